package sandboxkit

import "github.com/sandboxkit/sandboxkit/internal/glue"

// The façades reach the root package's plumbing through internal/glue.
func init() {
	glue.Wrap = wrap
	glue.ValidateID = validateID
	glue.ValidateName = validateName
	glue.ValidatePath = validatePath
	glue.ValidatePort = validatePort
	glue.ClassifyFailure = classifyFailure
}
