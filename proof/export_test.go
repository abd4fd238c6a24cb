package proof

// CheckCellWeights checks a cell with the weights instead of a key (tests).
func CheckCellWeights(w *Weights, tol Tolerances, d *CellData) (Residuals, *Finding, error) {
	return w.checker(tol).checkCell(d)
}
