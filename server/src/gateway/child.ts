// The gateway as a process of its own, with the real store and delivery pipeline: the crash test
// kills it with SIGKILL, and the benchmark runs it on its own core. Configured by the environment like
// the server (DATA_DIR, DATABASE_URL, SMTP_URL, ATTUNE_MASTER_KEY, GATEWAY_*); prints "READY <port>".
import { loadConfig } from '../config.ts';
import { openStore } from '../store/index.ts';
import { startGateway } from './index.ts';
import { createPipeline } from './pipeline.ts';

const config = loadConfig(process.env);
const store = await openStore(config);
const pipeline = await createPipeline({ config, store });
const running = await startGateway({ config, store, pipeline });
process.stdout.write(`READY ${running.port}\n`);

const stop = (): void => {
  void running
    .close()
    .then(() => pipeline.close())
    .then(() => store.close())
    .finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
