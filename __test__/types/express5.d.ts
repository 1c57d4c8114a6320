// Express 5 is installed as the alias `express5` (next to Express 4); its API is typed as Express's.
declare module 'express5' {
  import express from 'express'
  export default express
}
