package sandboxkit

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// recTracerProvider records the spans started through it.
type recTracerProvider struct {
	tracenoop.TracerProvider
	mu    sync.Mutex
	spans []*recSpan
}

func (p *recTracerProvider) Tracer(string, ...trace.TracerOption) trace.Tracer {
	return &recTracer{p: p}
}

func (p *recTracerProvider) recorded() []*recSpan {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*recSpan(nil), p.spans...)
}

type recTracer struct {
	tracenoop.Tracer
	p *recTracerProvider
}

func (t *recTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	cfg := trace.NewSpanStartConfig(opts...)
	s := &recSpan{name: name, kind: cfg.SpanKind(), attrs: map[string]attribute.Value{}}
	s.SetAttributes(cfg.Attributes()...)
	t.p.mu.Lock()
	t.p.spans = append(t.p.spans, s)
	t.p.mu.Unlock()
	return trace.ContextWithSpan(ctx, s), s
}

type recSpan struct {
	tracenoop.Span
	name   string
	kind   trace.SpanKind
	attrs  map[string]attribute.Value
	status codes.Code
	errs   []string
	ended  bool
}

func (s *recSpan) SetAttributes(kv ...attribute.KeyValue) {
	for _, a := range kv {
		s.attrs[string(a.Key)] = a.Value
	}
}
func (s *recSpan) SetStatus(c codes.Code, _ string) { s.status = c }
func (s *recSpan) RecordError(err error, _ ...trace.EventOption) {
	s.errs = append(s.errs, err.Error())
}
func (s *recSpan) End(...trace.SpanEndOption) { s.ended = true }
func (s *recSpan) attr(key string) string     { return s.attrs[key].String() }
func (s *recSpan) has(key string) bool        { _, ok := s.attrs[key]; return ok }

// durations returns the data points of http.client.request.duration.
func durations(t *testing.T, r *sdkmetric.ManualReader) []metricdata.HistogramDataPoint[float64] {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("Collect: %v", err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == "http.client.request.duration" {
				return m.Data.(metricdata.Histogram[float64]).DataPoints
			}
		}
	}
	return nil
}

func TestTelemetryRecordsOneSpanAndDurationPerCall(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tp := &recTracerProvider{}
		reader := sdkmetric.NewManualReader()
		s := newScript(reply{status: 503}, reply{status: 200, body: `{"id":"x"}`})
		cfg := mockConfig(t, Lifecycle, mockTransport(s),
			WithTracerProvider(tp), WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))

		if _, err := send(t.Context(), cfg, http.MethodGet, "/sandboxes/x?page=2", ""); err != nil {
			t.Fatalf("GET: %v", err)
		}

		spans := tp.recorded()
		if len(spans) != 1 {
			t.Fatalf("%d spans, want 1 for the call (retries included)", len(spans))
		}
		sp := spans[0]
		if sp.name != "GET" || sp.kind != trace.SpanKindClient || !sp.ended || sp.status == codes.Error {
			t.Errorf("span %q kind %v ended %v status %v, want GET, client, ended, not an error", sp.name, sp.kind, sp.ended, sp.status)
		}
		for key, want := range map[string]string{
			"http.request.method":       "GET",
			"server.address":            "lifecycle.test",
			"server.port":               "80",
			"url.full":                  "http://lifecycle.test/v1/sandboxes/x",
			"http.response.status_code": "200",
			"http.request.resend_count": "1",
			"sandboxkit.api":            "lifecycle",
		} {
			if got := sp.attr(key); got != want {
				t.Errorf("span attribute %s = %q, want %q", key, got, want)
			}
		}
		if sp.has("error.type") {
			t.Errorf("a successful call has error.type %q", sp.attr("error.type"))
		}

		points := durations(t, reader)
		if len(points) != 1 || points[0].Count != 1 {
			t.Fatalf("duration points %+v, want one with one call", points)
		}
		if v, ok := points[0].Attributes.Value("http.response.status_code"); !ok || v.AsInt64() != 200 {
			t.Errorf("duration's status code = %v, want 200", v.String())
		}
	})
}

func TestTelemetryFailedCallIsAnErrorWithoutCredentials(t *testing.T) {
	t.Parallel()
	tp := &recTracerProvider{}
	s := newScript(reply{status: 404, body: `{"code":"NOT_FOUND","message":"no sandbox"}`})
	cfg := mockConfig(t, ControlPlane, mockTransport(s), WithTracerProvider(tp))

	if _, err := send(t.Context(), cfg, http.MethodGet, "/signed/route-token-123456/sandboxes/x", ""); err == nil {
		t.Fatal("GET of a 404 succeeded")
	}
	spans := tp.recorded()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1", len(spans))
	}
	sp := spans[0]
	if sp.status != codes.Error || sp.attr("error.type") != "404" || sp.attr("http.response.status_code") != "404" || len(sp.errs) != 1 {
		t.Errorf("span status %v, error.type %q, status code %q, %d errors; want Error, 404, 404, 1",
			sp.status, sp.attr("error.type"), sp.attr("http.response.status_code"), len(sp.errs))
	}
	if got, want := sp.attr("url.full"), "https://cp.test/v0/signed/[REDACTED]/sandboxes/x"; got != want {
		t.Errorf("url.full = %q, want %q", got, want)
	}
	for k, v := range sp.attrs {
		if strings.Contains(v.String(), "route-token-123456") || strings.Contains(v.String(), testToken) {
			t.Errorf("attribute %s reveals a credential: %q", k, v.String())
		}
	}
	for _, e := range sp.errs {
		if strings.Contains(e, "route-token-123456") || strings.Contains(e, testToken) {
			t.Errorf("recorded error reveals a credential: %q", e)
		}
	}
}

func TestTelemetryOffWithoutProvider(t *testing.T) {
	t.Parallel()
	cfg := mockConfig(t, Lifecycle, mockTransport(newScript(reply{status: 200})))
	tr, ok := cfg.client.Transport.(*transport)
	if !ok {
		t.Fatalf("transport is %T", cfg.client.Transport)
	}
	if tr.tel != nil {
		t.Error("a configuration without providers records telemetry; it should cost calls nothing")
	}
}
