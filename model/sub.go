package model

import "fmt"

// Sub returns a model computing only layers r, a part of m's Range: a
// view that shares m's weights and kernel pool but has its own scratch
// buffers and sessions. A node serving layers [a, b) uses views to serve
// sessions for any [c, d) within them; because every layer computes the
// same bits whatever range it is loaded in, a view's output equals that
// of a model loaded with exactly r. Sub(m.Range) is m itself. Views hold
// no client parts and must not outlive m's Close.
func (m *Model) Sub(r Range) (*Model, error) {
	if r == m.Range {
		return m, nil
	}
	if r.Len() <= 0 || r.First < m.Range.First || r.Last > m.Range.Last {
		return nil, fmt.Errorf("model: layers %s are not a non-empty part of the loaded %s", r, m.Range)
	}
	lo, hi := r.First-m.Range.First, r.Last-m.Range.First
	return &Model{
		Config:    m.Config,
		Range:     r,
		pool:      m.pool,
		layers:    m.layers[lo:hi:hi],
		ropeFreqs: m.ropeFreqs,
	}, nil
}

// Model returns the model (or view, see Sub) the session belongs to.
func (s *Session) Model() *Model { return s.model }
