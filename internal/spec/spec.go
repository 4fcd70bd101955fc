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
