package guest

import (
	"context"
	"net/http"

	"github.com/sandboxkit/sandboxkit/internal/gen/sandboxsrv"
)

// errCodegenOff is the answer of the code-generation helpers on a server
// without a model provider (no Relace or Morph key): the real server
// answers it with 400 before looking at the request.
const errCodegenOff = "codegen tools are not configured, follow this documentation to configure it: https://docs.blaxel.ai/Sandboxes/Codegen"

// FastApply implements PUT /codegen/fastapply/{path}: always 400.
func (handler) FastApply(context.Context, *sandboxsrv.ApplyEditRequest, sandboxsrv.FastApplyParams) (*sandboxsrv.ApplyEditResponse, error) {
	return nil, failure(http.StatusBadRequest, errCodegenOff)
}

// RerankFiles implements GET /codegen/reranking/{path}: always 400.
func (handler) RerankFiles(context.Context, sandboxsrv.RerankFilesParams) (*sandboxsrv.RerankingResponse, error) {
	return nil, failure(http.StatusBadRequest, errCodegenOff)
}
