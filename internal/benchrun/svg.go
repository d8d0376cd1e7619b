package benchrun

import (
	"fmt"
	"math"
	"strings"
)

// Series is one line of a chart.
type Series struct {
	Name   string
	Points [][2]float64 // x, y
}

// Chart is a line chart rendered as a self-contained SVG (no scripts, no external assets).
type Chart struct {
	Title, XLabel, YLabel string
	LogX, LogY            bool
	Series                []Series
}

var palette = []string{"#2357d6", "#b3261e", "#1e7a3c", "#8a4fd8", "#c77700", "#4a5568"}

// SVG renders the chart, 720×400.
func (c Chart) SVG() string {
	const w, h, left, right, top, bottom = 720.0, 400.0, 70.0, 190.0, 40.0, 50.0
	tx := func(v float64, log bool) float64 {
		if log {
			return math.Log10(math.Max(v, 1e-12))
		}
		return v
	}
	minX, maxX, minY, maxY := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, s := range c.Series {
		for _, p := range s.Points {
			x, y := tx(p[0], c.LogX), tx(p[1], c.LogY)
			minX, maxX, minY, maxY = math.Min(minX, x), math.Max(maxX, x), math.Min(minY, y), math.Max(maxY, y)
		}
	}
	if math.IsInf(minX, 0) {
		minX, maxX, minY, maxY = 0, 1, 0, 1
	}
	if !c.LogY {
		minY = math.Min(minY, 0)
	}
	if maxX == minX {
		maxX = minX + 1
	}
	if maxY == minY {
		maxY = minY + 1
	}
	if c.LogY {
		minY, maxY = math.Floor(minY), math.Ceil(maxY)
	} else {
		maxY *= 1.1
	}
	px := func(x float64) float64 { return left + (tx(x, c.LogX)-minX)/(maxX-minX)*(w-left-right) }
	py := func(y float64) float64 { return h - bottom - (tx(y, c.LogY)-minY)/(maxY-minY)*(h-top-bottom) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" viewBox="0 0 %g %g" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%g" height="%g" fill="#fff"/>`+"\n", w, h)
	fmt.Fprintf(&b, `<text x="%g" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", left, esc(c.Title))
	// axes and grid
	fmt.Fprintf(&b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#333"/>`+"\n", left, h-bottom, w-right, h-bottom)
	fmt.Fprintf(&b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#333"/>`+"\n", left, top, left, h-bottom)
	for i := 0; i <= 4; i++ {
		v := minY + (maxY-minY)*float64(i)/4
		y := h - bottom - float64(i)/4*(h-top-bottom)
		label := v
		if c.LogY {
			label = math.Pow(10, v)
		}
		fmt.Fprintf(&b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#ddd"/><text x="%g" y="%g" text-anchor="end">%s</text>`+"\n",
			left, y, w-right, y, left-6, y+4, num(label))
	}
	xs := map[float64]bool{}
	for _, s := range c.Series {
		for _, p := range s.Points {
			if !xs[p[0]] {
				xs[p[0]] = true
				fmt.Fprintf(&b, `<text x="%g" y="%g" text-anchor="middle">%s</text>`+"\n", px(p[0]), h-bottom+16, num(p[0]))
			}
		}
	}
	fmt.Fprintf(&b, `<text x="%g" y="%g" text-anchor="middle">%s</text>`+"\n", left+(w-left-right)/2, h-12, esc(c.XLabel))
	fmt.Fprintf(&b, `<text x="16" y="%g" transform="rotate(-90 16 %g)" text-anchor="middle">%s</text>`+"\n", top+(h-top-bottom)/2, top+(h-top-bottom)/2, esc(c.YLabel))
	for i, s := range c.Series {
		color := palette[i%len(palette)]
		var pts []string
		for _, p := range s.Points {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(p[0]), py(p[1])))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", color, strings.Join(pts, " "))
		for _, p := range s.Points {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s: %s</title></circle>`+"\n", px(p[0]), py(p[1]), color, esc(s.Name), num(p[1]))
		}
		ly := top + 10 + float64(i)*20
		fmt.Fprintf(&b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="%s" stroke-width="2"/><text x="%g" y="%g">%s</text>`+"\n",
			w-right+12, ly, w-right+32, ly, color, w-right+38, ly+4, esc(s.Name))
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

// num formats a value compactly: 1.2k, 3M, 0.45.
func num(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e6:
		return trim(v/1e6) + "M"
	case a >= 1e3:
		return trim(v/1e3) + "k"
	}
	return trim(v)
}

func trim(v float64) string {
	s := fmt.Sprintf("%.3g", v)
	return s
}
