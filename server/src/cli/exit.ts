// Exit codes and the usage error shared by the admin commands (`attune practice`, `attune archive`):
// 0 done, 1 refused (the store or a check said no), 2 usage or setup.
export const OK = 0;
export const REFUSED = 1;
export const USAGE_ERROR = 2;

/** Bad arguments: the command prints its usage with the message and exits USAGE_ERROR. */
export class UsageError extends Error {}
