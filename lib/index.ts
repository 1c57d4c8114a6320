// The `fcgi` package: FastCGI and HTTP/1.1 application server.
export { serveFcgi, serveHttp } from './server.ts'
export { FcgiRequest } from './request.ts'
export { FcgiResponse } from './response.ts'
export { nodeHandler, type NodeListener } from './node/handler.ts'
export { FcgiClient, type ClientOptions, type ClientRequest, type ClientResponse, type StreamedResponse } from './client.ts'
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
  ServeOptions,
  Server,
  ServerStats,
  SlowlogOptions,
  StatusOptions,
} from './types.ts'
