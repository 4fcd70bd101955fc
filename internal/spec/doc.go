// Package spec holds sandboxkit's own OpenAPI documents, one per API, and
// embeds them so that tools (the mock server, tests) can read them without
// touching the file system.
//
// The documents are the source of the generated packages under
// internal/gen; see gen.go at the module root.
package spec
