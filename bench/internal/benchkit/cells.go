package benchkit

import (
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pavedroad/terraform-provider-paved/internal/testkit/testcell"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// Cells are the cells of one benchmark run, one per region, on free
// loopback ports, with the library's Regions over them. Stop stops them; so
// does SIGINT or SIGTERM, so no cell outlives the benchmark.
type Cells struct {
	List    []*testcell.Cell
	Regions *paved.Regions
}

var (
	liveMu   sync.Mutex
	live     []*testcell.Cell
	trapOnce sync.Once
)

// LaunchCells starts a cell per region name under work/<prefix>-<region>.
// The cloud label is the region's first dash-separated word.
func LaunchCells(work, prefix string, regions ...string) (*Cells, error) {
	trapOnce.Do(func() { go stopOnSignal() })
	cs := &Cells{}
	cfgs := map[string]paved.Config{}
	for _, name := range regions {
		c, err := testcell.Launch(testcell.Options{Region: name, Cloud: strings.SplitN(name, "-", 2)[0],
			Dir: filepath.Join(work, prefix+"-"+name)})
		if c != nil {
			liveMu.Lock()
			live = append(live, c)
			liveMu.Unlock()
			cs.List = append(cs.List, c)
		}
		if err != nil {
			cs.Stop()
			return nil, err
		}
		cfgs[name] = paved.Config{Endpoint: c.Endpoint, Token: c.Token, PollInterval: 100 * time.Millisecond}
	}
	var err error
	if cs.Regions, err = paved.NewRegions(cfgs); err != nil {
		cs.Stop()
		return nil, err
	}
	return cs, nil
}

// Routers are the cells' router base URLs, in region order.
func (cs *Cells) Routers() []string {
	out := make([]string, len(cs.List))
	for i, c := range cs.List {
		out[i] = "http://" + c.RouterAddr
	}
	return out
}

// Stop stops every cell of the run (SIGTERM; they stop their apps).
func (cs *Cells) Stop() {
	for _, c := range cs.List {
		c.Stop()
	}
	liveMu.Lock()
	live = slices.DeleteFunc(live, func(c *testcell.Cell) bool { return slices.Contains(cs.List, c) })
	liveMu.Unlock()
}

func stopOnSignal() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	<-ch
	log.Print("interrupted: stopping the cells")
	liveMu.Lock()
	for _, c := range live {
		c.Stop()
	}
	liveMu.Unlock()
	os.Exit(130)
}

// Spread is the median, min and max of a set of measurements.
type Spread struct{ Median, Min, Max float64 }

// SpreadOf sorts a copy of vals and reads the median (lower middle for an
// even count), min and max.
func SpreadOf(vals []float64) Spread {
	if len(vals) == 0 {
		return Spread{}
	}
	s := slices.Clone(vals)
	slices.Sort(s)
	return Spread{Median: s[(len(s)-1)/2], Min: s[0], Max: s[len(s)-1]}
}

// Format renders the spread with a printf verb for each number, e.g.
// Format("%.0f") → "812 (790–830)".
func (s Spread) Format(verb string) string {
	return fmt.Sprintf(verb+" ("+verb+"–"+verb+")", s.Median, s.Min, s.Max)
}
