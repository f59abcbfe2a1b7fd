package domain

// decidePersonalEvent re-decides the command a rule 21 event records (the history validator's
// part for personal data: it needs no key, only the sealed form and the rules).
func decidePersonalEvent(c *Channel, m Meta, data any) ([]pendingEvent, error) {
	switch d := data.(type) {
	case *CustomerPersonalDataChanged:
		return c.decideChangePersonal(ChangePersonalData{Meta: m, CustomerID: d.CustomerID, Personal: d.Personal, Cleared: d.Cleared})
	case *CustomerPersonalDataErased:
		return c.decideErasePersonal(ErasePersonalData{Meta: m, CustomerID: d.CustomerID, Reason: d.Reason})
	}
	return nil, Errorf(CodeInvalid, "not a personal-data event")
}
