package domain

// The undo journal of tentative applies: the worker decides a group of commands, applying their
// events as it goes, and rolls the channel back to the state begin saw if the group's append fails.

type journal struct {
	header    bool
	root      string
	revision  int64
	position  string
	partners  map[string]*Partner
	customers map[string]*Customer
	idem      map[idemID]savedIdem
	idemRuns  map[idemID]savedRuns
	res       []reservationKey
	bills     map[string]*CustomerBilling
	records   []idemID // usage record IDs added in the group
}

type savedIdem struct {
	e  idemEntry
	ok bool
}

type savedRuns struct {
	runs []idemRun
	ok   bool
}

func (j *journal) saveHeader(c *Channel) {
	if j == nil || j.header {
		return
	}
	j.header, j.root, j.revision, j.position = true, c.root, c.revision, c.position
}

// remember keeps current[key] (nil if absent) in *saved the first time key is seen, so that a
// rollback can restore the state from before the group.
func remember[V any](saved *map[string]*V, current map[string]*V, key string) {
	if *saved == nil {
		*saved = make(map[string]*V, 4)
	}
	if _, ok := (*saved)[key]; !ok {
		(*saved)[key] = current[key]
	}
}

func (j *journal) savePartner(c *Channel, id string) {
	if j != nil {
		remember(&j.partners, c.partners, id)
	}
}

func (j *journal) saveCustomer(c *Channel, id string) {
	if j != nil {
		remember(&j.customers, c.customers, id)
	}
}

func (j *journal) saveIdem(c *Channel, id idemID) {
	if j == nil {
		return
	}
	if j.idem == nil {
		j.idem = make(map[idemID]savedIdem, 4)
	}
	if _, seen := j.idem[id]; !seen {
		e, ok := c.idem[id]
		j.idem[id] = savedIdem{e, ok}
	}
}

func (j *journal) saveIdemRuns(c *Channel, id idemID) {
	if j == nil {
		return
	}
	if j.idemRuns == nil {
		j.idemRuns = map[idemID]savedRuns{}
	}
	if _, seen := j.idemRuns[id]; !seen {
		runs, ok := c.idemRuns[id]
		j.idemRuns[id] = savedRuns{runs, ok}
	}
}

func (j *journal) saveReservation(c *Channel, k reservationKey) {
	if j == nil {
		return
	}
	if _, ok := c.released[k]; !ok {
		j.res = append(j.res, k)
	}
}

// begin starts recording undo information; commit forgets it; rollback restores the state begin saw.
func (c *Channel) begin() {
	c.j = &journal{}
}

func (c *Channel) commit() { c.j = nil }

func (c *Channel) rollback() {
	j := c.j
	c.j = nil
	if j == nil {
		return
	}
	if j.header {
		c.root, c.revision, c.position = j.root, j.revision, j.position
	}
	for id, p := range j.partners {
		if p == nil {
			delete(c.partners, id)
		} else {
			c.partners[id] = p
		}
	}
	for id, cu := range j.customers {
		if cu == nil {
			delete(c.customers, id)
			delete(c.due, id)
		} else {
			c.customers[id] = cu
			c.syncDue(cu)
		}
	}
	for id, sv := range j.idem {
		if sv.ok {
			c.idem[id] = sv.e
		} else {
			delete(c.idem, id)
		}
	}
	for id, sv := range j.idemRuns {
		if sv.ok {
			c.idemRuns[id] = sv.runs
		} else {
			delete(c.idemRuns, id)
		}
	}
	for _, k := range j.res {
		delete(c.released, k)
	}
	for id, b := range j.bills {
		if b == nil {
			delete(c.bills, id)
		} else {
			c.bills[id] = b
		}
	}
	for _, k := range j.records {
		delete(c.records, k)
	}
}
