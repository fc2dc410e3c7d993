export declare const distDir: string;
export declare const mountPath: '/addin/';
export declare const ALLOWED_LIST_PATH: '/.well-known/microsoft-officeaddins-allowed.json';
export declare function allowedList(publicUrl: string): { allowed: string[] };
export declare const REQUIRED_FILES: readonly string[];
