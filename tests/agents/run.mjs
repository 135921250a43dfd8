// Agents from the OpenAI Agents SDK (@openai/agents), unmodified, against
// the gateway: node run.mjs GATEWAY_URL MODEL plain|stream [tool|handoff]
// - tool: an agent with a function tool runs its loop;
// - handoff: a triage agent hands off to a weather agent whose output type
//   is a zod object (structured output, validated by the SDK);
// - mcp: an agent with a hosted MCP tool (the gateway's `weather` server).
import { Agent, run, tool, hostedMcpTool, setDefaultOpenAIClient, setTracingDisabled, setOpenAIAPI } from '@openai/agents';
import OpenAI from 'openai';
import { z } from 'zod';
setTracingDisabled(true);
setOpenAIAPI('responses');
setDefaultOpenAIClient(new OpenAI({ baseURL: process.argv[2] + '/v1', apiKey: 'unused' }));
const [model, mode, scenario = 'tool'] = process.argv.slice(3);
const getWeather = tool({
  name: 'get_weather', description: 'Weather for a city',
  parameters: z.object({ city: z.string() }),
  execute: async ({ city }) => `sunny in ${city}`,
});
let agent, input;
if (scenario === 'mcp') {
  agent = new Agent({
    name: 'w', instructions: 'Be brief.', model,
    tools: [hostedMcpTool({ serverLabel: 'weather', requireApproval: 'never' })],
  });
  input = 'What is the weather? run: Oslo';
} else if (scenario === 'handoff') {
  const weather = new Agent({
    name: 'weather', instructions: 'Answer with the forecast.', model, tools: [getWeather],
    outputType: z.object({ city: z.string(), forecast: z.string(), confident: z.boolean() }),
    handoffDescription: 'Knows the weather',
  });
  agent = Agent.create({ name: 'triage', instructions: 'Route the user.', model, handoffs: [weather] });
  input = 'transfer_to_weather for Oslo';
} else {
  agent = new Agent({ name: 'w', instructions: 'Be brief.', model, tools: [getWeather] });
  input = 'use get_weather for Oslo';
}
const result = await run(agent, input, { stream: mode === 'stream' });
if (mode === 'stream') { for await (const _ of result) {} await result.completed; }
console.log('AGENT:', result.lastAgent?.name);
console.log('FINAL:', typeof result.finalOutput === 'string' ? result.finalOutput : JSON.stringify(result.finalOutput));
