package swarm_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/tessera-net/tessera/proof"
	"github.com/tessera-net/tessera/swarm"
)

// TestFiguresDetection measures, for every dishonest behaviour, the share
// of sessions (a prompt and 16 generated tokens through nodes [0:3] and
// [3:6], the second one dishonest) in which the client catches the node,
// at the default audit budget and with one cell audited per receipt; and
// the honest false-alarm count. TESSERA_PROOF_FIGURES=1 (sessions:
// TESSERA_PROOF_SESSIONS, default 100).
func TestFiguresDetection(t *testing.T) {
	if os.Getenv("TESSERA_PROOF_FIGURES") == "" {
		t.Skip("set TESSERA_PROOF_FIGURES=1 to measure")
	}
	sessions := 100
	if s := os.Getenv("TESSERA_PROOF_SESSIONS"); s != "" {
		fmt.Sscan(s, &sessions)
	}
	w := testWeights(t)
	advs := adversaries()
	for _, eps := range []float64{1e-4, 3e-4, 1e-2} {
		advs = append(advs, adversary{name: fmt.Sprintf("noise on one layer (%.0e)", eps), server: func(t testing.TB, srv *swarm.Server) { lastLayer(srv, noise(eps, true)) }})
	}
	advs = append(advs, adversary{name: "noise on one layer, trace not updated (1e-6)", server: func(t testing.TB, srv *swarm.Server) { lastLayer(srv, noise(1e-6, false)) }})
	advs = append(advs, adversary{name: "honest"})
	for _, audit := range []proof.AuditConfig{{}, {Cells: 1}} {
		for _, adv := range advs {
			res := runAdversary(t, &adv, sessions, 16, audit)
			caught, proven := 0, 0
			for _, r := range res {
				if r.detected {
					caught++
				}
				if r.fraud != nil {
					if _, err := proof.CheckEvidence(r.fraud.Evidence, w, proof.Tolerances{}); err == nil {
						proven++
					}
				}
			}
			t.Logf("budget %.2f cells %d | %-45s caught %3d/%d sessions (%.1f%%), with evidence the weights confirm %d",
				max(audit.Budget, proof.DefaultBudget), audit.Cells, adv.name, caught, sessions, 100*float64(caught)/float64(sessions), proven)
		}
	}
}
