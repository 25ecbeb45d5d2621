// boottrace flamegraph: click a frame to zoom, "Search" (or Ctrl-F) to
// highlight frames matching a regular expression (case-insensitive),
// "Clear search" and "Reset zoom" to go back. In a flamechart the time
// axis follows the zoom.
(function () {
	var svg = document.querySelector("svg");
	var total = +svg.getAttribute("data-total");
	var unit = svg.getAttribute("data-unit");
	var W = +svg.getAttribute("width"), PAD = 10, FW = 12 * 0.59;
	var frames = Array.prototype.slice.call(document.querySelectorAll("g.f"));
	var details = document.getElementById("details");
	var reset = document.getElementById("reset");
	var matched = document.getElementById("matched");
	function name(g) { var t = g.firstChild.textContent; return t.substring(0, t.lastIndexOf(" (")); }
	function fit(g, w) {
		var n = name(g), c = Math.floor(w / FW), txt = g.lastChild;
		txt.textContent = c < 3 ? "" : (n.length <= c ? n : n.substring(0, c - 2) + "..");
	}
	function layout(x0, w0, d0) {
		var s = (W - 2 * PAD) / w0;
		frames.forEach(function (g) {
			var x = +g.getAttribute("data-x"), w = +g.getAttribute("data-w"), d = +g.getAttribute("data-d");
			var r = g.querySelector("rect"), t = g.lastChild;
			var inside = x + w > x0 && x < x0 + w0;
			g.classList.toggle("hide", !inside);
			if (!inside) return;
			var nx = Math.max(x, x0), nw = Math.min(x + w, x0 + w0) - nx;
			r.setAttribute("x", (PAD + (nx - x0) * s).toFixed(1));
			r.setAttribute("width", (nw * s).toFixed(1));
			r.style.opacity = d0 >= 0 && d < d0 ? 0.5 : "";
			t.setAttribute("x", (PAD + (nx - x0) * s + 3).toFixed(1));
			fit(g, nw * s);
		});
	}
	var axis = document.getElementById("axis");
	var NS = "http://www.w3.org/2000/svg";
	function dur(v) {
		if (unit !== "ns") return String(v);
		if (v >= 1e9) return (v / 1e9).toFixed(3) + " s";
		if (v >= 1e6) return (v / 1e6).toFixed(3) + " ms";
		if (v >= 1e3) return (v / 1e3).toFixed(1) + " \u00b5s";
		return v + " ns";
	}
	// The time axis of a flamechart, for the range [x0, x0 + w0]: ticks
	// every 1, 2 or 5 times a power of ten, about ten of them.
	function drawAxis(x0, w0) {
		if (!axis) return;
		while (axis.firstChild) axis.removeChild(axis.firstChild);
		var y = +axis.getAttribute("data-y"), s = (W - 2 * PAD) / w0;
		var step = Math.pow(10, Math.floor(Math.log10(Math.max(w0 / 10, 1))));
		[1, 2, 5, 10].some(function (m) { if (w0 / (step * m) <= 12) { step *= m; return true; } return false; });
		for (var t = Math.ceil(x0 / step) * step; t <= x0 + w0; t += step) {
			var x = PAD + (t - x0) * s;
			var l = document.createElementNS(NS, "line");
			l.setAttribute("x1", x.toFixed(1)); l.setAttribute("x2", x.toFixed(1));
			l.setAttribute("y1", y - 12); l.setAttribute("y2", y + 4); l.setAttribute("stroke", "#999");
			var tx = document.createElementNS(NS, "text");
			tx.setAttribute("x", (x + 2).toFixed(1)); tx.setAttribute("y", y); tx.setAttribute("fill", "#555");
			tx.textContent = dur(t);
			axis.appendChild(l); axis.appendChild(tx);
		}
	}
	var chart = svg.getAttribute("data-topdown") === "true";
	frames.forEach(function (g) {
		g.addEventListener("click", function () {
			var x = +g.getAttribute("data-x"), w = +g.getAttribute("data-w");
			layout(x, w, +g.getAttribute("data-d"));
			if (chart) {
				drawAxis(x, w);
				reset.textContent = "Reset zoom (" + dur(x) + " to " + dur(x + w) + ")";
			} else {
				// A merged graph has no time axis: say what the frame holds.
				reset.textContent = "Reset zoom (" + name(g) + ": " + dur(w) + ", " + (total ? (100 * w / total).toFixed(1) : 0) + "% of all)";
			}
			reset.classList.remove("hide");
		});
		g.addEventListener("mouseover", function () { details.textContent = g.firstChild.textContent; });
		g.addEventListener("mouseout", function () { details.textContent = " "; });
	});
	reset.addEventListener("click", function () {
		layout(0, total, -1);
		reset.classList.add("hide");
		if (chart) drawAxis(0, total);
	});
	var clear = document.getElementById("clear");
	function search(term) {
		if (term === undefined) term = prompt("Search frames (regular expression, any case)", "");
		if (term === null) return;
		var re;
		try { re = new RegExp(term, "i"); } catch (e) { alert(e); return; }
		var hit = [];
		frames.forEach(function (g) {
			var r = g.querySelector("rect");
			if (!r.hasAttribute("data-fill")) r.setAttribute("data-fill", r.getAttribute("fill"));
			var m = term !== "" && re.test(name(g));
			r.setAttribute("fill", m ? "rgb(230,0,230)" : r.getAttribute("data-fill"));
			if (m) hit.push([+g.getAttribute("data-x"), +g.getAttribute("data-w")]);
		});
		// Count each stretch of time once, however many frames matched in it.
		hit.sort(function (a, b) { return a[0] - b[0]; });
		var sum = 0, end = -1;
		hit.forEach(function (h) {
			var s = Math.max(h[0], end), e = h[0] + h[1];
			if (e > s) { sum += e - s; end = e; }
		});
		matched.textContent = term === "" ? "" : "Matched " + hit.length + " frames: " + dur(sum) + ", " + (total ? (100 * sum / total).toFixed(1) : 0) + "%";
		clear.classList.toggle("hide", term === "");
	}
	document.getElementById("search").addEventListener("click", function () { search(); });
	clear.addEventListener("click", function () { search(""); });
	window.addEventListener("keydown", function (e) {
		if ((e.ctrlKey || e.metaKey) && e.key === "f") { e.preventDefault(); search(); }
		if (e.key === "Escape") search("");
	});
})();
