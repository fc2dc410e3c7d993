import { MAX_ATTACHMENT_BYTES, ScanRequestSchema, type ScanResponse } from '@attune/shared/api';
import { scanAndDecide } from '@attune/shared/policy';
import {
  attachmentContentHits,
  attachmentReasons,
  extractAll,
  scanInputOf,
  unreadableToPatient,
} from '../../attachments/index.ts';
import { AUDIT, appendAudit, auditContext } from '../../audit/index.ts';
import { requireClinician } from '../../identity/middleware.ts';
import { getPolicy, patientEmailsAmong } from '../../store/index.ts';
import { ApiError } from '../errors.ts';
import { readJson } from '../validate.ts';
import type { RouteModule } from '../types.ts';

/**
 * POST /v1/scan: a draft scanned with its attachments' contents, which the add-ins cannot read
 * (PDF, DOCX/XLSX/PPTX, ODF, RTF, HTML), under the practice's policy and with the recipients'
 * patient status, as POST /v1/messages and the SMTP gateway scan. Nothing is stored. The Outlook
 * send handler asks it before it lets a draft with such attachments go out as ordinary email.
 *
 * The call processes PHI, so it is audited (phi.scan) with counts and codes only: how many
 * attachments, how many could not be read, the decision. The response names attachments by
 * position and kind, never by file name.
 */
export const scan: RouteModule = {
  mount(app, deps) {
    const { db } = deps.store;
    app.post('/v1/scan', requireClinician(deps), async function scanDraft(c) {
      const req = await readJson(c, ScanRequestSchema);
      const { practiceId } = c.get('auth');
      let total = 0;
      const bytes = req.attachments.map((a) => {
        const b = Buffer.from(a.contentBase64, 'base64');
        if (b.length > MAX_ATTACHMENT_BYTES)
          throw new ApiError(
            413,
            'payload_too_large',
            `An attachment exceeds ${MAX_ATTACHMENT_BYTES / (1024 * 1024)} MB.`,
          );
        total += b.length;
        return b;
      });
      if (total > deps.config.limits.maxMessageBytes)
        throw new ApiError(413, 'payload_too_large', 'The attachments exceed the message size limit.');

      const files = await extractAll(
        req.attachments.map((a, i) => ({
          filename: a.filename,
          contentType: a.contentType,
          bytes: bytes[i]!,
        })),
      );
      const emails = [...new Set([...req.to, ...req.cc])];
      const [{ policy }, known] = await Promise.all([
        getPolicy(db, practiceId),
        emails.length > 0 ? patientEmailsAmong(db, practiceId, emails) : Promise.resolve(new Set<string>()),
      ]);
      const { scan: found, decision } = scanAndDecide(
        policy,
        scanInputOf(req, req.attachments, files),
        emails.map((email) => ({ email, isPatient: known.has(email) })),
      );
      const hits = attachmentContentHits(
        found,
        req.attachments.map((a) => a.filename.length),
      );
      const opaque = unreadableToPatient(decision.decision, files, known.size > 0);
      const unreadable = files.filter((f) => f.unreadable).length;
      const body: ScanResponse = {
        decision: opaque ? 'encrypt' : decision.decision,
        reasons: [
          ...decision.reasons,
          ...attachmentReasons(files, hits, decision.phi),
          ...(opaque ? [opaque] : []),
        ],
        phi: decision.phi || opaque !== null,
        types: found.types,
        fields: found.fields.map((f) => ({
          field: f.field,
          types: [...new Set(f.findings.map((x) => x.type))],
        })),
        attachments: files.map((f) => ({
          kind: f.kind,
          read: !f.unreadable ? 'full' : f.text ? 'partial' : 'none',
          ...(f.unreadable ? { reason: f.unreadable } : {}),
        })),
      };
      await appendAudit(db, {
        ...auditContext(c),
        action: AUDIT.PHI_SCAN,
        outcome: 'success',
        target: { type: 'draft', id: 'scan' },
        details: { attachments: files.length, unreadable, decision: body.decision },
      });
      return c.json(body);
    });
  },
};
