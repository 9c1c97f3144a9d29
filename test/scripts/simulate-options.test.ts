import { describe, expect, it } from 'vitest';
import { PACES } from '../../scripts/simulate/pace.ts';
import { webhookUrlOf } from '../../scripts/simulate/webhook-url.ts';

describe('simulate options', () => {
  it('takes the ingress base URL, the webhook URL or a base behind a prefix, and nothing that is not http(s)', () => {
    const webhook = 'http://127.0.0.1:3000/api/v1/sessions/vapi/webhook';
    expect(webhookUrlOf('http://127.0.0.1:3000')).toBe(webhook);
    expect(webhookUrlOf('http://127.0.0.1:3000/')).toBe(webhook);
    expect(webhookUrlOf(webhook)).toBe(webhook);
    expect(webhookUrlOf(`${webhook}/`)).toBe(webhook);
    expect(webhookUrlOf('https://clinic.example/vapi')).toBe('https://clinic.example/vapi/api/v1/sessions/vapi/webhook');
    expect(webhookUrlOf('127.0.0.1:3000')).toBeNull();
    expect(webhookUrlOf('ftp://clinic.example')).toBeNull();
  });

  it('speaks at 150 words a minute at realtime pace, and faster than one word takes at fast pace', () => {
    expect(3 * PACES.realtime.thirdOfUtteranceMs(150)).toBe(60_000);
    expect(3 * PACES.realtime.thirdOfUtteranceMs(13)).toBeCloseTo(5_200);
    expect(PACES.fast.thirdOfUtteranceMs()).toBeLessThan(PACES.realtime.thirdOfUtteranceMs(1));
  });
});
