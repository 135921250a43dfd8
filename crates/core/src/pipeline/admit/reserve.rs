//! What a turn reserves, and the cap that makes it true: the output it
//! is admitted for goes upstream as its limit, so no answer can cost
//! more than its reservation said; the input counts at its worst case.

use crate::config::Config;
use crate::providers;
use crate::quota::ScopeOp;
use crate::routing::Candidate;
use crate::types::{ContentPart, CreateResponseBody, FunctionOutput, Input, Item, MessageContent};

/// Caps the turn's output: a configured model's `max_output_tokens`
/// lowers what it asks; a caller under a token limit or a budget that
/// asks for nothing is held to the model's cap, else to
/// `limits.default_max_output_tokens`, sent upstream.
pub(crate) fn cap_output(
    config: &Config,
    model: &str,
    scopes: &[ScopeOp],
    body: &mut CreateResponseBody,
) {
    let most = config
        .models
        .iter()
        .find(|m| m.name == model)
        .and_then(|m| m.max_output_tokens);
    if let (Some(asked), Some(most)) = (body.max_output_tokens, most) {
        body.max_output_tokens = Some(asked.min(most));
    }
    let counted = scopes.iter().any(|s| s.tpm.is_some() || s.budget.is_some());
    if counted && body.max_output_tokens.is_none() {
        body.max_output_tokens = Some(most.unwrap_or(config.limits.default_max_output_tokens));
    }
}

/// The reservation: the input at its worst case (text at bytes ÷ 4,
/// the expanded history included; each image, file or audio part at
/// `limits.image_tokens` or `limits.file_tokens`), and the most output
/// any candidate may generate for this body, its thinking budget
/// included. `size` is the request body's length.
pub(crate) fn estimate(
    config: &Config,
    body: &CreateResponseBody,
    size: u64,
    candidates: &[Candidate<'_>],
) -> (u64, u64) {
    let input_size = if body.previous_response_id.is_some() {
        serde_json::to_vec(&body.input).map_or(size, |b| (b.len() as u64).saturating_add(size))
    } else {
        size
    };
    let (images, files) = media_parts(body.input.as_ref());
    let limits = &config.limits;
    let input = (input_size / 4)
        .saturating_add(images.saturating_mul(limits.image_tokens))
        .saturating_add(files.saturating_mul(limits.file_tokens));
    let output = candidates
        .iter()
        .map(|c| providers::output_cap(&c.route, body).unwrap_or(limits.default_max_output_tokens))
        .max()
        .unwrap_or_else(|| {
            body.max_output_tokens
                .unwrap_or(limits.default_max_output_tokens)
        });
    (input, output)
}

/// The image parts, and the file and audio parts, of an input.
fn media_parts(input: Option<&Input>) -> (u64, u64) {
    let (mut images, mut files) = (0u64, 0u64);
    let mut count = |parts: &[ContentPart]| {
        for p in parts {
            match p {
                ContentPart::InputImage(_) => images += 1,
                ContentPart::InputFile(_) => files += 1,
                ContentPart::Other(v) if v["type"] == "input_audio" => files += 1,
                _ => {}
            }
        }
    };
    let Some(Input::Items(items)) = input else {
        return (0, 0);
    };
    for item in items {
        match item {
            Item::Message(m) => {
                if let MessageContent::Parts(parts) = &m.content {
                    count(parts);
                }
            }
            Item::FunctionCallOutput(o) => {
                if let FunctionOutput::Parts(parts) = &o.output {
                    count(parts);
                }
            }
            _ => {}
        }
    }
    (images, files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: serde_json::Value) -> CreateResponseBody {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn images_and_files_count_at_their_worst_case() {
        let config = Config::from_yaml("{}", &|_| None).unwrap();
        let img = serde_json::json!({"type": "input_image", "image_url": "https://x/y.png"});
        let file = serde_json::json!({"type": "input_file", "file_id": "file-1"});
        let b = body(serde_json::json!({
            "model": "m",
            "input": [{"role": "user", "content": [img, img, file]}],
            "max_output_tokens": 10,
        }));
        let (input, output) = estimate(&config, &b, 400, &[]);
        assert_eq!(input, 100 + 2 * 2_500 + 32_000);
        assert_eq!(output, 10);
    }

    #[test]
    fn the_largest_output_saturates() {
        let config = Config::from_yaml("{}", &|_| None).unwrap();
        let b =
            body(serde_json::json!({"model": "m", "input": "x", "max_output_tokens": u64::MAX}));
        let (input, output) = estimate(&config, &b, u64::MAX, &[]);
        assert_eq!((input, output), (u64::MAX / 4, u64::MAX));
        assert_eq!(input.saturating_add(output), u64::MAX);
    }
}
