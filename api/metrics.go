package api

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the gateway's Prometheus series. Names start with
// tessera_gateway_.
type metrics struct {
	requests    *prometheus.CounterVec   // endpoint, code
	latency     *prometheus.HistogramVec // endpoint: whole request
	ttft        prometheus.Histogram     // time to the first token of a generation
	tokens      *prometheus.CounterVec   // model, kind=prompt|completion
	generations *prometheus.CounterVec   // model, finish=stop|length|error
	errors      *prometheus.CounterVec   // code
	inFlight    prometheus.Gauge
	queued      prometheus.Gauge
	audits      *prometheus.CounterVec // result=none|passed|failed|pending
	certs       prometheus.GaugeFunc
}

// NewRegistry returns a Prometheus registry with the Go runtime and
// process collectors, to which the gateway and its command add their
// series.
func NewRegistry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

func newMetrics(reg prometheus.Registerer, certs *CertStore) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tessera_gateway_requests_total", Help: "HTTP requests to the API by endpoint and status code.",
		}, []string{"endpoint", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tessera_gateway_request_duration_seconds", Help: "Time to answer an API request in full (a stream until its end).",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 12),
		}, []string{"endpoint"}),
		ttft: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "tessera_gateway_time_to_first_token_seconds", Help: "Time from a generation's start to its first emitted text.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 12),
		}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tessera_gateway_tokens_total", Help: "Tokens served: prompt tokens processed and completion tokens generated.",
		}, []string{"model", "kind"}),
		generations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tessera_gateway_generations_total", Help: "Generations by model and finish reason (error for failed ones).",
		}, []string{"model", "finish"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tessera_gateway_errors_total", Help: "Error answers by error code.",
		}, []string{"code"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tessera_gateway_generations_in_flight", Help: "Generations running now.",
		}),
		queued: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tessera_gateway_generations_queued", Help: "Requests waiting for a generation slot.",
		}),
		audits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tessera_gateway_audits_total", Help: "Certificates issued by audit outcome: passed, failed, receipts (receipts checked, no verification key), none.",
		}, []string{"result"}),
		certs: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tessera_gateway_certificates_stored", Help: "Certificates held in memory.",
		}, func() float64 { return float64(certs.Len()) }),
	}
	reg.MustRegister(m.requests, m.latency, m.ttft, m.tokens, m.generations, m.errors, m.inFlight, m.queued, m.audits, m.certs)
	for _, r := range []string{AuditNone, AuditReceipts, AuditPassed, AuditFailed} {
		m.audits.WithLabelValues(r)
	}
	return m
}
