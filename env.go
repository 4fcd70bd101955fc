package sandboxkit

import (
	"fmt"
	"os"
)

// Environment variables read by [NewConfig] for settings no option gave.
// [WithoutEnvironment] turns this off. Empty values count as unset.
const (
	// EnvLifecycleAPIKey is the lifecycle API key.
	EnvLifecycleAPIKey = "OPEN_SANDBOX_API_KEY"
	// EnvLifecycleBaseURL is the lifecycle API base URL.
	EnvLifecycleBaseURL = "OPEN_SANDBOX_BASE_URL"
	// EnvToken is the bearer token of the control plane, read by control
	// plane configurations and, with [WithEnvCredentials] only, by sandbox
	// API ones.
	EnvToken = "BL_API_KEY"
	// EnvWorkspace is the workspace sent in X-Blaxel-Workspace, read like
	// [EnvToken].
	EnvWorkspace = "BL_WORKSPACE"
	// EnvControlPlaneBaseURL is the control plane base URL.
	EnvControlPlaneBaseURL = "BL_API_URL"
)

// Default base URLs. The sandbox API has none: every sandbox has its own.
const (
	// DefaultLifecycleBaseURL is a lifecycle server on this machine.
	DefaultLifecycleBaseURL = "http://localhost:8080/v1"
	// DefaultControlPlaneBaseURL is the hosted control plane.
	DefaultControlPlaneBaseURL = "https://api.blaxel.ai/v0"
)

// getenv returns a non-empty environment variable.
func getenv(name string) (string, bool) {
	v, ok := os.LookupEnv(name)
	return v, ok && v != ""
}

// applyEnv fills what the options left unset from the environment. Errors
// name the variable, never its value when it is a credential.
func (s *settings) applyEnv() error {
	credVar, baseVar, workspace := "", "", false
	switch s.api {
	case Lifecycle:
		credVar, baseVar = EnvLifecycleAPIKey, EnvLifecycleBaseURL
	case Sandbox:
		if !s.envCreds {
			// BL_API_KEY and BL_WORKSPACE are the control plane's: a
			// sandbox configuration takes them only when asked to.
			return nil
		}
		credVar, workspace = EnvToken, true
	case ControlPlane:
		credVar, baseVar, workspace = EnvToken, EnvControlPlaneBaseURL, true
	}
	if v, ok := getenv(credVar); s.cred == nil && ok {
		if err := checkHeaderValue(v); err != nil {
			return &ValidationError{Field: "credential in $" + credVar, Reason: err.Error()}
		}
		s.cred = newSecret(v)
	}
	if v, ok := getenv(baseVar); s.baseURL == nil && baseVar != "" && ok {
		u, err := parseBaseURL(v)
		if err != nil {
			return fmt.Errorf("$%s: %w", baseVar, err)
		}
		s.baseURL = u
	}
	if v, ok := getenv(EnvWorkspace); s.workspace == "" && workspace && ok {
		if err := checkHeaderValue(v); err != nil {
			return &ValidationError{Field: "workspace in $" + EnvWorkspace, Value: v, Reason: err.Error()}
		}
		s.workspace = v
	}
	return nil
}
