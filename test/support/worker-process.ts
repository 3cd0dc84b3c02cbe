import type { ChildProcess } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import { spawnTs } from './ts-child';

/** A child app instance answering one JSON line per command. */
export class WorkerProcess {
  private readonly lines: Interface;
  private readonly waiting: Array<(line: string) => void> = [];

  private constructor(private readonly child: ChildProcess) {
    this.lines = createInterface({ input: child.stdout! });
    this.lines.on('line', (line) => this.waiting.shift()?.(line));
  }

  static async start(script: string, args: string[]): Promise<WorkerProcess> {
    const child = spawnTs(script, args);
    const worker = new WorkerProcess(child);
    await worker.next();
    return worker;
  }

  get pid(): number {
    return this.child.pid!;
  }

  async send<T = Record<string, unknown>>(command: object): Promise<T> {
    const answer = this.next();
    this.child.stdin!.write(JSON.stringify(command) + '\n');
    return JSON.parse(await answer) as T;
  }

  async stop(): Promise<void> {
    this.child.stdin!.write(JSON.stringify({ op: 'exit' }) + '\n');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => (this.child.kill('SIGKILL'), resolve()), 5_000);
      this.child.once('exit', () => (clearTimeout(timer), resolve()));
    });
  }

  private next(): Promise<string> {
    return new Promise((resolve) => this.waiting.push(resolve));
  }
}
