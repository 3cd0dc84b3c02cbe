import { setTimeout as sleep } from 'node:timers/promises';

type Admin = { cluster(...args: string[]): Promise<unknown> };

/** Whether the node behind `admin` claims `slot` itself (the slot ranges of its `myself` line). */
async function claims(admin: Admin, slot: number): Promise<boolean> {
  const lines = String(await admin.cluster('NODES')).split('\n');
  const mine = lines.find((l) => l.split(' ')[2]?.split(',').includes('myself'));
  return (mine ?? '')
    .split(' ')
    .slice(8)
    .filter((r) => !r.startsWith('['))
    .some((r) => {
      const [from, to = from] = r.split('-').map(Number);
      return slot >= from && slot <= to;
    });
}

/**
 * Which of `nodes` owns `slot`: the one node that claims it itself, once every node's `CLUSTER SLOTS`
 * agrees. One node's view alone can lag a handover under load, and SETSLOT MIGRATING sent on it
 * fails with "I'm not the owner of hash slot".
 */
export async function ownerOf(admins: Admin[], nodes: Array<{ port: number }>, slot: number): Promise<number> {
  let seen = '';
  // Up to 15 s: under a loaded CI machine no node claimed a slot 5 s after the last handover (a95401e).
  for (let i = 0; i < 300; i++) {
    const own = (await Promise.all(admins.map((a) => claims(a, slot)))).flatMap((c, n) => (c ? [n] : []));
    const views = await Promise.all(
      admins.map(async (a) => {
        const slots = (await a.cluster('SLOTS')) as Array<[number, number, [string, number, string]]>;
        const range = slots.find(([from, to]) => slot >= from && slot <= to);
        return range ? nodes.findIndex((n) => n.port === range[2][1]) : -1;
      }),
    );
    if (own.length === 1 && views.every((v) => v === own[0])) return own[0];
    seen = `claimed by ${JSON.stringify(own)}, views ${JSON.stringify(views)}`;
    // Orphaned: fast handovers let a stale claim with a higher config epoch win on a node that then
    // gives the slot up, and nobody claims it again (seen under load). Hand it to the node most
    // views name, as the last handover meant, with a fresh epoch so its claim wins.
    if (own.length === 0 && i > 0 && i % 20 === 0) await reclaim(admins, views, slot);
    await sleep(50);
  }
  throw new Error(`slot ${slot}: the nodes do not agree on its owner (${seen})`);
}

async function reclaim(admins: Admin[], views: number[], slot: number): Promise<void> {
  const named = views.filter((v) => v >= 0);
  if (named.length === 0) return;
  const owner = named.sort((a, b) => named.filter((v) => v === b).length - named.filter((v) => v === a).length)[0];
  const ownerId = String(await admins[owner].cluster('MYID'));
  await admins[owner].cluster('BUMPEPOCH');
  for (const a of [admins[owner], ...admins]) await a.cluster('SETSLOT', String(slot), 'NODE', ownerId);
}

/**
 * Starts moving `slot` from its owner to the next node, as `redis-cli --cluster reshard` does:
 * IMPORTING on the target, then MIGRATING on the owner. Keys are the caller's to MIGRATE;
 * `finish()` hands the slot over on every node (the target first, so it bumps its epoch).
 */
export async function startMigration(admins: Admin[], nodes: Array<{ port: number }>, slot: number) {
  const src = await ownerOf(admins, nodes, slot);
  const dst = (src + 1) % admins.length;
  const [srcId, dstId] = [String(await admins[src].cluster('MYID')), String(await admins[dst].cluster('MYID'))];
  await admins[dst].cluster('SETSLOT', String(slot), 'IMPORTING', srcId);
  await admins[src].cluster('SETSLOT', String(slot), 'MIGRATING', dstId);
  const finish = async () => {
    for (const a of [admins[dst], admins[src], ...admins]) await a.cluster('SETSLOT', String(slot), 'NODE', dstId);
  };
  return { src, dst, finish };
}
