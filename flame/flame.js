// boottrace flamegraph: click a frame to zoom, "Search" (or Ctrl-F) to
// highlight frames matching a regular expression, "Reset zoom" to go back.
(function () {
	var svg = document.documentElement;
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
	function ms(v) { return unit === "ns" ? (v / 1e6).toFixed(3) + " ms" : String(v); }
	frames.forEach(function (g) {
		g.addEventListener("click", function () {
			var x = +g.getAttribute("data-x"), w = +g.getAttribute("data-w");
			layout(x, w, +g.getAttribute("data-d"));
			// The time axis no longer fits the zoomed frames: say the range instead.
			if (axis) axis.classList.add("hide");
			reset.textContent = "Reset zoom (showing " + ms(x) + " to " + ms(x + w) + ")";
			reset.classList.remove("hide");
		});
		g.addEventListener("mouseover", function () { details.textContent = g.firstChild.textContent; });
		g.addEventListener("mouseout", function () { details.textContent = " "; });
	});
	reset.addEventListener("click", function () {
		layout(0, total, -1);
		reset.classList.add("hide");
		if (axis) axis.classList.remove("hide");
	});
	function search() {
		var term = prompt("Search frames (regular expression)", "");
		if (term === null) return;
		var re;
		try { re = new RegExp(term); } catch (e) { alert(e); return; }
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
		matched.textContent = term === "" ? "" : "Matched: " + (total ? (100 * sum / total).toFixed(1) : 0) + "%";
	}
	document.getElementById("search").addEventListener("click", search);
	window.addEventListener("keydown", function (e) {
		if ((e.ctrlKey || e.metaKey) && e.key === "f") { e.preventDefault(); search(); }
	});
})();
