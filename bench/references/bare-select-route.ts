/**
 * Reference bare_select_route: a Fastify route doing one indexed 1-row SELECT through a
 * `pg` pool of the service's size (a copy of the groups table, primary-key lookup), no auth.
 */
import Fastify from 'fastify';
import pg from 'pg';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 20 });
pool.on('error', () => {});
const app = Fastify({ logger: false });

app.get<{ Params: { id: string } }>('/groups/:id', async (request, reply) => {
  const { rows } = await pool.query(
    'SELECT id, event_id, name, description, max_members, is_private, created_at, updated_at FROM ref_groups WHERE id = $1',
    [request.params.id],
  );
  if (!rows[0]) return reply.status(404).send({ detail: 'not found' });
  return rows[0];
});

const address = await app.listen({ host: '127.0.0.1', port: 0 });
console.log(JSON.stringify({ ready: { port: Number(new URL(address).port) } }));
process.on('SIGTERM', () => {
  void app.close().then(() => pool.end()).finally(() => process.exit(0));
});
