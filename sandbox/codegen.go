package sandbox

import (
	"context"
	"fmt"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/internal/gen/sandboxapi"
)

// FastApplyOptions tunes [Client.FastApply].
type FastApplyOptions struct {
	// Model replaces the server's default code-apply model.
	Model string
}

// FastApplyResult is the outcome of [Client.FastApply].
type FastApplyResult struct {
	// Path is the edited file.
	Path string
	// Provider is the model provider that did the work.
	Provider string
	// Message is the server's comment.
	Message string
	// OriginalContent and UpdatedContent are the file before and after.
	OriginalContent, UpdatedContent string
}

// FastApply has the server's code-apply model merge edit, a sketch of a
// change in which a line "// ... existing code ..." stands for code left
// as it is, into the file at path, and write the result. A server
// without a model provider configured answers 400 "codegen tools are not
// configured" (errors.Is(err, sandboxkit.ErrBadRequest); the published spec
// says 503).
//
// PUT /codegen/fastapply/{path}
func (c *Client) FastApply(ctx context.Context, path, edit string, opts *FastApplyOptions) (*FastApplyResult, error) {
	const op = "FastApply"
	if err := c.check(ctx, op); err != nil {
		return nil, err
	}
	if err := checkPath("path", path); err != nil {
		return nil, wrap(ctx, op, err)
	}
	if edit == "" {
		return nil, wrap(ctx, op, &sandboxkit.ValidationError{Field: "edit", Reason: "must not be empty"})
	}
	req := &sandboxapi.ApplyEditRequest{CodeEdit: edit}
	if opts != nil && opts.Model != "" {
		req.Model = sandboxapi.NewOptString(opts.Model)
	}
	r, err := c.api.FastApply(ctx, req, sandboxapi.FastApplyParams{Path: path}, fsPathOpt)
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	if r.Success.Set && !r.Success.Value {
		return nil, wrap(ctx, op, fmt.Errorf("the server did not apply the edit: %s", r.Message.Value))
	}
	return &FastApplyResult{
		Path:            r.Path.Or(path),
		Provider:        r.Provider.Value,
		Message:         r.Message.Value,
		OriginalContent: r.OriginalContent.Value,
		UpdatedContent:  r.UpdatedContent.Value,
	}, nil
}

// RerankOptions tunes [Client.Rerank]. The zero value is usable.
type RerankOptions struct {
	// ScoreThreshold drops files scoring below it (server default 0.5);
	// 0 leaves the default.
	ScoreThreshold float64
	// TokenLimit stops adding files past this many tokens (server default
	// 30000); 0 leaves the default.
	TokenLimit int
	// FilePattern is a regular expression a file path must match.
	FilePattern string
}

// RankedFile is a file [Client.Rerank] found relevant.
type RankedFile struct {
	// Path is the file.
	Path string
	// Score is its relevance; higher is better.
	Score float64
	// Content is the file's content.
	Content string
}

// Rerank asks the server's reranking model which files below dir matter
// most for query and returns them, most relevant first. A server without
// a model provider configured answers 400 "codegen tools are not
// configured" (errors.Is(err, sandboxkit.ErrBadRequest); the published spec
// says 503).
//
// GET /codegen/reranking/{path}
func (c *Client) Rerank(ctx context.Context, dir, query string, opts *RerankOptions) ([]RankedFile, error) {
	const op = "Rerank"
	if err := c.check(ctx, op); err != nil {
		return nil, err
	}
	if err := checkPath("path", dir); err != nil {
		return nil, wrap(ctx, op, err)
	}
	if query == "" {
		return nil, wrap(ctx, op, &sandboxkit.ValidationError{Field: "query", Reason: "must not be empty"})
	}
	var o RerankOptions
	if opts != nil {
		o = *opts
	}
	if o.ScoreThreshold < 0 || o.TokenLimit < 0 {
		return nil, wrap(ctx, op, &sandboxkit.ValidationError{Field: "rerank options", Reason: "ScoreThreshold and TokenLimit must not be negative"})
	}
	params := sandboxapi.RerankFilesParams{Path: dir, Query: query, TokenLimit: optPositive(o.TokenLimit)}
	if o.ScoreThreshold > 0 {
		params.ScoreThreshold = sandboxapi.NewOptFloat64(o.ScoreThreshold)
	}
	if o.FilePattern != "" {
		params.FilePattern = sandboxapi.NewOptString(o.FilePattern)
	}
	r, err := c.api.RerankFiles(ctx, params, fsPathOpt)
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	return rankedFilesFrom(r), nil
}
