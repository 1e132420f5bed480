// Package console is Stratus's web console: a small HTTP server that serves a plain
// HTML/CSS/JS page (embedded, no build chain) and a JSON API behind it.
//
// The console is a client of the public APIs, not a back door: every storage and compute
// action is an S3 or EC2 request signed with the logged-in user's access key, so a user sees
// and changes exactly what their key may through aws-cli. The secret key lives only in the
// server-side session store, in memory, and is never logged or sent back to the browser.
// Only the cluster's admin account sees the admin pages (cluster status, users and keys),
// which use an Admin the embedding command provides (meta with the admin certificate).
//
// Sessions: an opaque random ID in an HttpOnly, SameSite=Strict cookie (Secure when the
// console is served over TLS), expiring after Config.SessionTTL; every state-changing
// request must carry the session's CSRF token in the X-CSRF-Token header.
//
// Uploads stream: the browser sends the file as the raw request body, and the console
// forwards it to S3 as it arrives (one PUT for small files, multipart for big ones, each
// part read straight from the request), so its memory per upload does not grow with size.
package console
