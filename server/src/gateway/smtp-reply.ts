// An SMTP reply the gateway gives, and the error object smtp-server turns into one.

export interface SmtpReply {
  code: number;
  /** Starts with the enhanced status code (RFC 3463), e.g. "5.7.1 Relaying denied". */
  message: string;
}

export function smtpError(code: number, message: string): Error & { responseCode: number } {
  return Object.assign(new Error(message), { responseCode: code });
}
