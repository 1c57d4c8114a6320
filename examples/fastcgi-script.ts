// The original library's way: a CGI script, turned into a FastCGI server by fastcgi().
//   node --import tsx examples/fastcgi-script.ts          serves it on ./fcgi.sock
//   node --import tsx examples/fastcgi-script.ts --listen 127.0.0.1:9000 --http 8080
//   fcgi dev examples/fastcgi-script.ts                    a browser-ready front end on :8080
//   fcgi serve examples/fastcgi-script.ts                  the default export is { handler }
import { fastcgi } from 'fcgi'

const escape = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`)

export default fastcgi(async ({ env, stdin, stdout, stderr }) => {
  const query = env.QUERY_STRING
  const content = await stdin.text()
  if (content) stderr.write(`posted ${content.length} bytes\n`)
  stdout.write('Content-type: text/html; charset=utf-8\r\n\r\n')
  stdout.write(`<!doctype html><title>fcgi</title><h1>Hello from a CGI-style script over FastCGI</h1>
<p>${escape(env.REQUEST_METHOD)} ${escape(env.REQUEST_URI ?? '')} — query: <code>${escape(query)}</code></p>
<p>body: <code>${escape(content)}</code></p>
<form method="post"><input name="say" value="hi"><button>POST it</button></form>
<p><small>served by ${escape(env.SERVER_SOFTWARE ?? '')} to ${escape(env.REMOTE_ADDR ?? '')}</small></p>\n`)
})
