// A fastcgi() script as a handler, through the public API. fastcgi() serves when the file that
// calls it is the entry point, and under `node --test` the test file is: calling it from here
// keeps a test from starting a server on ./fcgi.sock.
import { fastcgi, type CgiScript, type Handler } from 'fcgi'

export function scriptHandler(script: CgiScript): Handler {
  return fastcgi(script).handler
}
