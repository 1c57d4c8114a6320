// The `fcgi` package: FastCGI and HTTP/1.1 application server.
export { serveFcgi, serveHttp } from './server.ts'
export { FcgiRequest } from './request.ts'
export type { BodyStream } from './body.ts'
export { FcgiResponse, type HeaderValue } from './response.ts'
export { nodeHandler, type NodeListener } from './node/handler.ts'
export { FcgiClient, type ClientOptions, type ClientRequest, type ClientResponse, type ResponseEnd, type StreamedResponse } from './client.ts'
export type {
  AccessLogEntry,
  AccessLogFormat,
  AccessLogOption,
  Address,
  CloseOptions,
  EngineChoice,
  EngineName,
  FetchContext,
  FetchHandler,
  Handler,
  Limits,
  ListenOption,
  LogLevel,
  Logger,
  Role,
  ServeCommon,
  ServeOptions,
  Server,
  ServerStats,
  SlowlogOptions,
  StatusOptions,
} from './types.ts'
export { fastcgi, type FastcgiApp, type FastcgiOptions } from './cgi/fastcgi.ts'
export type { AppOptions } from './serve-app.ts'
export type { CgiScript, CgiScriptContext, CgiStdin } from './cgi/script.ts'
export type { SocketPermissions } from './socket-permissions.ts'
export { cgiHandler, type CgiProgramOptions } from './cgi/program.ts'
