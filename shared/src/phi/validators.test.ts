import { describe, expect, it } from 'vitest';
import {
  calendarValid,
  deaValid,
  ibanValid,
  ipv4Valid,
  ipv6Valid,
  luhnValid,
  nanpValid,
  nhsValid,
  npiValid,
  ssnValid,
  vinValid,
  zipValid,
} from './validators.ts';

describe('validators', () => {
  it('applies SSA area, group and serial rules to SSNs', () => {
    expect(ssnValid('123-45-6780')).toBe(true);
    expect(ssnValid('000-12-3456')).toBe(false);
    expect(ssnValid('666-12-3456')).toBe(false);
    expect(ssnValid('912-12-3456')).toBe(false);
    expect(ssnValid('123-00-4567')).toBe(false);
    expect(ssnValid('123-45-0000')).toBe(false);
    expect(ssnValid('078-05-1120')).toBe(false);
  });
  it('accepts NANP numbers only with valid area code and exchange', () => {
    expect(nanpValid('617-555-0142')).toBe(true);
    expect(nanpValid('+1 (617) 555-0142')).toBe(true);
    expect(nanpValid('117-555-0142')).toBe(false);
    expect(nanpValid('617-155-0142')).toBe(false);
    expect(nanpValid('911-555-0142')).toBe(false);
  });
  it('checks real calendar dates including leap years', () => {
    expect(calendarValid(2024, 2, 29)).toBe(true);
    expect(calendarValid(2023, 2, 29)).toBe(false);
    expect(calendarValid(1900, 2, 29)).toBe(false);
    expect(calendarValid(2000, 2, 29)).toBe(true);
    expect(calendarValid(2024, 4, 31)).toBe(false);
    expect(calendarValid(2024, 13, 1)).toBe(false);
  });
  it('computes Luhn', () => {
    expect(luhnValid('4111111111111111')).toBe(true);
    expect(luhnValid('4111111111111112')).toBe(false);
  });
  it('validates ZIP and ZIP+4', () => {
    expect(zipValid('02139')).toBe(true);
    expect(zipValid('02139-4307')).toBe(true);
    expect(zipValid('00000')).toBe(false);
    expect(zipValid('02139-0000')).toBe(false);
    expect(zipValid('2139')).toBe(false);
  });
  it('validates IPv4 and IPv6 text forms', () => {
    expect(ipv4Valid('192.168.10.1')).toBe(true);
    expect(ipv4Valid('256.1.1.1')).toBe(false);
    expect(ipv4Valid('01.2.3.4')).toBe(false);
    expect(ipv6Valid('2001:db8::8a2e:370:7334')).toBe(true);
    expect(ipv6Valid('::1')).toBe(true);
    expect(ipv6Valid('::ffff:192.0.2.128')).toBe(true);
    expect(ipv6Valid('2001:db8::1::2')).toBe(false);
    expect(ipv6Valid('12345::1')).toBe(false);
  });
  it('checks NPI, DEA, VIN and NHS check digits', () => {
    expect(npiValid('1234567893')).toBe(true);
    expect(npiValid('1234567890')).toBe(false);
    expect(deaValid('AB1234563')).toBe(true);
    expect(deaValid('AB1234564')).toBe(false);
    expect(vinValid('1HGCM82633A004352')).toBe(true);
    expect(vinValid('1HGCM82634A004352')).toBe(false);
    expect(nhsValid('943 476 5919')).toBe(true);
    expect(nhsValid('943 476 5918')).toBe(false);
  });
  it('checks IBAN mod-97', () => {
    expect(ibanValid('GB82 WEST 1234 5698 7654 32')).toBe(true);
    expect(ibanValid('GB82 WEST 1234 5698 7654 33')).toBe(false);
  });
});
