package api

import "time"

// rateWindow is the seconds of throughput history kept.
const rateWindow = 120

// rateRing counts generated tokens per wall-clock second over the last
// rateWindow seconds.
type rateRing struct {
	count [rateWindow]float64
	sec   [rateWindow]int64 // the unix second each slot counts
}

// add spreads n tokens evenly over [from, to].
func (r *rateRing) add(from, to time.Time, n int) {
	if n <= 0 {
		return
	}
	if !to.After(from) {
		r.slot(from.Unix()) // a generation of no measurable length
		r.count[from.Unix()%rateWindow] += float64(n)
		return
	}
	total := to.Sub(from).Seconds()
	for s := from.Unix(); s <= to.Unix(); s++ {
		lo := time.Unix(s, 0)
		if lo.Before(from) {
			lo = from
		}
		hi := time.Unix(s+1, 0)
		if hi.After(to) {
			hi = to
		}
		if !hi.After(lo) {
			continue
		}
		r.slot(s)
		r.count[s%rateWindow] += float64(n) * hi.Sub(lo).Seconds() / total
	}
}

func (r *rateRing) slot(s int64) {
	if i := s % rateWindow; r.sec[i] != s {
		r.sec[i], r.count[i] = s, 0
	}
}

// series returns the counts of the seconds before now, oldest first.
func (r *rateRing) series(now time.Time) []float64 {
	out := make([]float64, rateWindow)
	end := now.Unix()
	for k := range out {
		s := end - rateWindow + int64(k)
		if i := s % rateWindow; s >= 0 && r.sec[i] == s {
			out[k] = r.count[i]
		}
	}
	return out
}

// Throughput returns generated tokens per second over the last two
// minutes, oldest first, one value a second (the current, incomplete
// second excluded).
func (s *Server) Throughput() []float64 {
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rate.series(now)
}
