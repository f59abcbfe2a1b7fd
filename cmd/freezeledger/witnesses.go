package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/freezeledger/freezeledger/projections/auditlog"
	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
	"github.com/freezeledger/freezeledger/projections/auditlog/verify"
)

// parseWitnesses parses the repeated serve --witness NAME=URL=VKEY (names distinct).
func parseWitnesses(flags []string) ([]auditlog.Witness, error) {
	var ws []auditlog.Witness
	seen := map[string]bool{}
	for _, f := range flags {
		w, err := auditlog.ParseWitness(f)
		if err != nil {
			return nil, err
		}
		if seen[w.Name] {
			return nil, fmt.Errorf("witness %s is given twice", w.Name)
		}
		seen[w.Name] = true
		ws = append(ws, w)
	}
	return ws, nil
}

// openWitnesses prepares the witnessing of l's tree by the --witness flags (nil without any) and
// registers its metrics. background runs it.
func openWitnesses(flags []string, l *ledger, log hclog.Logger) (*auditlog.Witnesses, error) {
	ws, err := parseWitnesses(flags)
	if err != nil || len(ws) == 0 {
		return nil, err
	}
	w, err := auditlog.NewWitnesses(l.tree, ws, auditlog.WitnessOptions{Logger: log.Named("witness")})
	if err != nil {
		return nil, err
	}
	l.reg.MustRegister(witnessCollector{w})
	for _, x := range ws {
		log.Info("witness configured", "witness", x.Name, "url", x.URL, "key", x.Key.String())
	}
	return w, nil
}

// witnessCollector exposes Witnesses.Status as metrics, one series per witness.
type witnessCollector struct{ w *auditlog.Witnesses }

var (
	witnessCosignedSize = prometheus.NewDesc("freezeledger_witness_cosigned_size",
		"Tree size of the latest checkpoint the witness cosigned since start (0: none).", []string{"witness"}, nil)
	witnessGood = prometheus.NewDesc("freezeledger_witness_up",
		"1 if the witness's latest answer was a cosignature, else 0 (down, failing or refusing).", []string{"witness"}, nil)
	witnessCosignatures = prometheus.NewDesc("freezeledger_witness_cosignatures_total",
		"Checkpoints the witness cosigned.", []string{"witness"}, nil)
	witnessRefusals = prometheus.NewDesc("freezeledger_witness_refusals_total",
		"Checkpoints the witness refused: 422 (inconsistent with what it cosigned: a fork or a rewritten log), 403/404 (unknown log or key), or a witness ahead of the log.", []string{"witness"}, nil)
	witnessFailures = prometheus.NewDesc("freezeledger_witness_failures_total",
		"Requests to the witness without a usable answer (down, timeout, other status, invalid cosignature); retried with backoff.", []string{"witness"}, nil)
)

func (c witnessCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{witnessCosignedSize, witnessGood, witnessCosignatures, witnessRefusals, witnessFailures} {
		ch <- d
	}
}

func (c witnessCollector) Collect(ch chan<- prometheus.Metric) {
	for _, st := range c.w.Status() {
		up := 0.0
		if st.Good {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(witnessCosignedSize, prometheus.GaugeValue, float64(st.CosignedSize), st.Name)
		ch <- prometheus.MustNewConstMetric(witnessGood, prometheus.GaugeValue, up, st.Name)
		ch <- prometheus.MustNewConstMetric(witnessCosignatures, prometheus.CounterValue, float64(st.Cosignatures), st.Name)
		ch <- prometheus.MustNewConstMetric(witnessRefusals, prometheus.CounterValue, float64(st.Refusals), st.Name)
		ch <- prometheus.MustNewConstMetric(witnessFailures, prometheus.CounterValue, float64(st.Failures), st.Name)
	}
}

// readWitnessKeys reads verify's --witness-key values (each a cosignature verifier key or a file
// holding one) and checks the threshold against them.
func readWitnessKeys(flags []string, threshold int) ([]string, error) {
	var keys []string
	for _, f := range flags {
		k := f
		if b, err := os.ReadFile(f); err == nil {
			k = strings.TrimSpace(string(b))
		}
		if _, err := leaf.NewCosignatureVerifier(k); err != nil {
			return nil, fmt.Errorf("--witness-key %q is neither a readable file nor a witness key: %w", f, err)
		}
		keys = append(keys, k)
	}
	switch {
	case threshold < 0:
		return nil, errors.New("--witness-threshold must not be negative")
	case threshold > len(keys):
		return nil, fmt.Errorf("--witness-threshold %d needs at least %d --witness-key, %d given", threshold, threshold, len(keys))
	}
	return keys, nil
}

// witnessNames says which witnesses cosigned, for verify's report.
func witnessNames(wr *verify.WitnessReport) string {
	names := make([]string, len(wr.Valid))
	for i, c := range wr.Valid {
		names[i] = c.Witness
	}
	return fmt.Sprintf("%d of the witnesses (%s; %d required)", len(wr.Valid), strings.Join(names, ", "), wr.Threshold)
}
