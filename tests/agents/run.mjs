// An agent from the OpenAI Agents SDK (@openai/agents), unmodified, with a
// function tool, against the gateway: node run.mjs GATEWAY_URL MODEL [stream]
import { Agent, run, tool, setDefaultOpenAIClient, setTracingDisabled, setOpenAIAPI } from '@openai/agents';
import OpenAI from 'openai';
import { z } from 'zod';
setTracingDisabled(true);
setOpenAIAPI('responses');
setDefaultOpenAIClient(new OpenAI({ baseURL: process.argv[2] + '/v1', apiKey: 'unused' }));
const getWeather = tool({
  name: 'get_weather', description: 'Weather for a city',
  parameters: z.object({ city: z.string() }),
  execute: async ({ city }) => `sunny in ${city}`,
});
const agent = new Agent({ name: 'w', instructions: 'Be brief.', model: process.argv[3], tools: [getWeather] });
const stream = process.argv[4] === 'stream';
const result = await run(agent, 'use get_weather for Oslo', { stream });
if (stream) { for await (const _ of result) {} await result.completed; }
console.log('FINAL:', result.finalOutput);
