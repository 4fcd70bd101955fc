package guest

import (
	"context"

	"github.com/sandboxkit/sandboxkit/internal/gen/sandboxsrv"
)

// errNoProvider is the answer of the code-generation helpers: like a real
// server without a model provider configured, the mock has none.
const errNoProvider = "no provider configured"

// FastApply implements PUT /codegen/fastapply/{path}: always 503.
func (handler) FastApply(context.Context, *sandboxsrv.ApplyEditRequest, sandboxsrv.FastApplyParams) (sandboxsrv.FastApplyRes, error) {
	return &sandboxsrv.FastApplyServiceUnavailable{Error: errNoProvider}, nil
}

// RerankFiles implements GET /codegen/reranking/{path}: always 503.
func (handler) RerankFiles(context.Context, sandboxsrv.RerankFilesParams) (sandboxsrv.RerankFilesRes, error) {
	return &sandboxsrv.RerankFilesServiceUnavailable{Error: errNoProvider}, nil
}
