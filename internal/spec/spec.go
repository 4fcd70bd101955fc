// Package spec holds sandboxkit's own OpenAPI documents, one per API, and
// embeds them so that tools (the mock server, tests) can read them without
// touching the file system.
//
// The documents are the source of the generated packages under
// internal/gen; see gen.go at the module root.
package spec

import _ "embed"

// Lifecycle is the OpenAPI document of the lifecycle API (/v1).
//
//go:embed lifecycle.yaml
var Lifecycle []byte

// Sandbox is the OpenAPI document of the sandbox API that runs inside each
// sandbox.
//
//go:embed sandbox.yaml
var Sandbox []byte

// ControlPlane is the OpenAPI document of the control plane's sandboxes
// resource (/v0).
//
//go:embed controlplane.yaml
var ControlPlane []byte
