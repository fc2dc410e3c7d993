// Pure engagement analytics over events (no host APIs). See ../api/engagement.ts for the output.
export {};
