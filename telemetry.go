package sandboxkit

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// instrumentationName names the SDK's tracer and meter.
const instrumentationName = "github.com/sandboxkit/sandboxkit"

// telemetry records, for each call through a configuration's transport,
// a client span and the call's duration, following OpenTelemetry's HTTP
// client conventions: span name the method; attributes
// http.request.method, server.address, server.port, url.full (without
// query, credentials scrubbed), http.response.status_code,
// http.request.resend_count (retries), error.type, and sandboxkit.api.
// The metric is the histogram http.client.request.duration in seconds.
// A call is measured from the request to the final answer's headers; it
// covers its retries, waits and redirects.
//
// The transport has a telemetry only when [WithTracerProvider] or
// [WithMeterProvider] gave a provider, so a configuration without one
// pays nothing for it.
type telemetry struct {
	tracer   trace.Tracer            // nil without a tracer provider
	duration metric.Float64Histogram // nil without a meter provider
	attrs    []attribute.KeyValue    // of every call: API and server
	sc       *scrubber
}

func newTelemetry(s *settings, sc *scrubber) *telemetry {
	if s.tracer == nil && s.meter == nil {
		return nil
	}
	o := originOf(s.baseURL)
	port, _ := strconv.Atoi(o.port)
	t := &telemetry{
		attrs: []attribute.KeyValue{
			attribute.String("sandboxkit.api", s.api.String()),
			attribute.String("server.address", o.host),
			attribute.Int("server.port", port),
		},
		sc: sc,
	}
	if s.tracer != nil {
		t.tracer = s.tracer.Tracer(instrumentationName)
	}
	if s.meter != nil {
		// On an error the API still returns a working (if inert) instrument.
		h, _ := s.meter.Meter(instrumentationName).Float64Histogram("http.client.request.duration",
			metric.WithUnit("s"), metric.WithDescription("Duration of sandboxkit API calls, retries included."))
		t.duration = h
	}
	return t
}

// observe runs call for r inside a span and records its duration.
func (t *telemetry) observe(r *http.Request, st *callState, call func(*http.Request, *callState) (*http.Response, error)) (*http.Response, error) {
	start := time.Now()
	ctx := r.Context()
	attrs := append(t.attrs[:len(t.attrs):len(t.attrs)], attribute.String("http.request.method", r.Method))
	var span trace.Span
	if t.tracer != nil {
		u := *r.URL
		u.RawQuery, u.ForceQuery, u.Fragment, u.User = "", false, "", nil
		ctx, span = t.tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attrs...), trace.WithAttributes(attribute.String("url.full", t.sc.scrub(u.String()))))
		r = r.WithContext(ctx)
		st.ctx = ctx // retries and redirects belong to the span
	}
	resp, err := call(r, st)

	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	errType := ""
	if ae, ok := errors.AsType[*APIError](err); ok {
		status = ae.StatusCode
		errType = strconv.Itoa(status)
	} else if err != nil {
		errType = errorType(err)
	}
	if status != 0 {
		attrs = append(attrs, attribute.Int("http.response.status_code", status))
	}
	if errType != "" {
		attrs = append(attrs, attribute.String("error.type", errType))
	}
	if span != nil {
		span.SetAttributes(attrs[len(t.attrs)+1:]...)
		if st.retries > 0 {
			span.SetAttributes(attribute.Int("http.request.resend_count", st.retries))
		}
		if err != nil {
			span.RecordError(err) // the transport's errors are scrubbed
			span.SetStatus(codes.Error, errType)
		}
		span.End()
	}
	if t.duration != nil {
		t.duration.Record(context.WithoutCancel(ctx), time.Since(start).Seconds(), metric.WithAttributes(attrs...))
	}
	return resp, err
}

// errorType names a transport error for error.type, in few values.
func errorType(err error) string {
	switch {
	case errors.Is(err, ErrTimeout):
		return "timeout"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline_exceeded"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, ErrResponseTooLarge):
		return "response_too_large"
	}
	return "_OTHER"
}
