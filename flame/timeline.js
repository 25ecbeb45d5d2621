// The report's flamechart on a canvas: every span of every track, drawn
// from columns of numbers, only those wide enough to see at the current
// zoom, so a boot of 100,000 spans zooms without freezing the page. Names
// come from untrusted input: drawn as text on the canvas or set as
// textContent, never parsed as markup.
function boottraceTimeline(root, d) {
	"use strict";
	var canvas = root.querySelector("canvas"), ctx = canvas.getContext("2d");
	var tip = root.querySelector(".tl-tip"), info = root.querySelector(".tl-range"), matched = root.querySelector(".tl-matched");
	var search = root.querySelector(".tl-search");
	var rowH = 16, axisH = 22, dpr = window.devicePixelRatio || 1, minPx = 0.3;
	var n = d.start.length, lo = 0, hi = Math.max(d.total, 1), query = "", drawn = 0, W = 0, H = 0;
	var lower = d.names.map(function (s) { return s.toLowerCase(); });
	function fmt(v) {
		if (d.unit !== "ns") return String(Math.round(v));
		var a = Math.abs(v);
		if (a >= 1e9) return (v / 1e9).toFixed(3) + " s";
		if (a >= 1e6) return (v / 1e6).toFixed(3) + " ms";
		if (a >= 1e3) return (v / 1e3).toFixed(1) + " µs";
		return Math.round(v) + " ns";
	}
	function size() {
		W = Math.max(root.clientWidth, 300);
		H = axisH + d.rows * rowH + 4;
		canvas.width = W * dpr; canvas.height = H * dpr;
		canvas.style.width = W + "px"; canvas.style.height = H + "px";
		ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
	}
	function px(t) { return (t - lo) / (hi - lo) * W; }
	function step(span) {
		var s = Math.pow(10, Math.floor(Math.log10(Math.max(span / 10, 1))));
		if (span / s > 50) return s * 10;
		if (span / s > 20) return s * 5;
		if (span / s > 10) return s * 2;
		return s;
	}
	function draw() {
		ctx.clearRect(0, 0, W, H);
		ctx.font = "11px Verdana, sans-serif";
		ctx.textBaseline = "middle";
		// The time axis, rescaled to the zoom.
		var st = step(hi - lo);
		ctx.fillStyle = "#555"; ctx.strokeStyle = "#bbb";
		for (var t = Math.ceil(lo / st) * st; t <= hi; t += st) {
			var tx = px(t);
			ctx.beginPath(); ctx.moveTo(tx, axisH - 6); ctx.lineTo(tx, H); ctx.stroke();
			ctx.fillText(fmt(t), tx + 2, 8);
		}
		ctx.strokeStyle = "#999";
		d.bands.forEach(function (b) {
			var y = axisH + b * rowH - 0.5;
			ctx.beginPath(); ctx.moveTo(0, y); ctx.lineTo(W, y); ctx.stroke();
		});
		drawn = 0;
		for (var i = 0; i < n; i++) {
			var s = d.start[i], e = s + d.dur[i];
			if (e < lo || s > hi) continue;
			var x0 = px(s), x1 = px(e);
			if (x1 - x0 < minPx) continue;
			x0 = Math.max(x0, 0); x1 = Math.min(x1, W);
			var w = x1 - x0, y = axisH + d.row[i] * rowH, k = d.name[i];
			ctx.fillStyle = query && lower[k].indexOf(query) >= 0 ? "rgb(230,0,230)" : d.colors[k];
			ctx.fillRect(x0, y, Math.max(w - 0.5, 0.5), rowH - 1);
			drawn++;
			if (w > 24) {
				ctx.save(); ctx.beginPath(); ctx.rect(x0, y, w - 2, rowH); ctx.clip();
				ctx.fillStyle = "#000"; ctx.fillText(d.names[k], x0 + 3, y + rowH / 2);
				ctx.restore();
			}
		}
		info.textContent = fmt(lo) + " to " + fmt(hi) + " (" + fmt(hi - lo) + ")";
	}
	function zoom(a, b) {
		lo = Math.max(0, Math.min(a, b)); hi = Math.min(Math.max(d.total, 1), Math.max(a, b));
		if (hi - lo < 1) hi = lo + 1;
		draw();
	}
	// The span drawn under a point, if any.
	function at(ev) {
		var r = canvas.getBoundingClientRect(), mx = ev.clientX - r.left, my = ev.clientY - r.top;
		var row = Math.floor((my - axisH) / rowH), t = lo + mx / W * (hi - lo), best = -1;
		for (var i = 0; i < n; i++) {
			if (d.row[i] !== row || d.start[i] > t || d.start[i] + d.dur[i] < t) continue;
			if (px(d.start[i] + d.dur[i]) - px(d.start[i]) < minPx) continue;
			best = i;
		}
		return best;
	}
	function track(i) {
		var b = 0;
		while (b + 1 < d.bands.length && d.bands[b + 1] <= d.row[i]) b++;
		return d.tracks[b];
	}
	canvas.addEventListener("click", function (ev) {
		var i = at(ev);
		if (i < 0) return;
		var m = d.dur[i] * 0.02;
		zoom(d.start[i] - m, d.start[i] + d.dur[i] + m);
	});
	canvas.addEventListener("wheel", function (ev) {
		ev.preventDefault();
		var r = canvas.getBoundingClientRect(), t = lo + (ev.clientX - r.left) / W * (hi - lo);
		var f = ev.deltaY > 0 ? 1.25 : 0.8;
		zoom(t - (t - lo) * f, t + (hi - t) * f);
	}, {passive: false});
	canvas.addEventListener("mousemove", function (ev) {
		var i = at(ev);
		if (i < 0) { tip.textContent = ""; return; }
		tip.textContent = d.names[d.name[i]] + " — " + d.kinds[d.kind[i]] + ", " + fmt(d.dur[i]) + " at " + fmt(d.start[i]) + " (" + track(i) + ")";
	});
	root.querySelector(".tl-reset").addEventListener("click", function () { zoom(0, d.total); });
	function find() {
		query = search.value.toLowerCase();
		var count = 0, total = 0;
		if (query) {
			for (var i = 0; i < n; i++) {
				if (lower[d.name[i]].indexOf(query) >= 0) { count++; total += d.dur[i]; }
			}
			matched.textContent = count + " matches, " + fmt(total) + " in all";
		} else {
			matched.textContent = "";
		}
		draw();
	}
	search.addEventListener("input", find);
	root.querySelector(".tl-clear").addEventListener("click", function () { search.value = ""; find(); });
	window.addEventListener("resize", function () { size(); draw(); });
	// The legend: what each colour stands for.
	var keys = root.querySelector(".tl-legend");
	d.legend.forEach(function (l) {
		var key = document.createElement("span"), swatch = document.createElement("i");
		swatch.style.background = l.color;
		key.appendChild(swatch);
		key.appendChild(document.createTextNode(l.kind));
		keys.appendChild(key);
	});
	size(); draw();
	// For tests and the curious: how many spans, how many drawn, the view.
	root.timeline = {spans: n, drawn: function () { return drawn; }, view: function () { return [lo, hi]; }, zoom: zoom};
}
