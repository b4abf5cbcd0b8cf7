/*
 * The focus curve: PiFocusChart.plotGeometry turns a run's samples into what the inline SVG of
 * pifocus_run.jinja2 draws (points, the line through them, the axes and their ticks, the
 * chosen peak, the lens's position), in the SVG's own coordinates (screen pixels). The sidebar, the settings page and the set-up all draw the
 * curve through pifocus_shared.js's run view, which calls this.
 */
window.PiFocusChart = (function () {
    "use strict";

    // Read at call time: this file may load before pifocus_shared.js.
    function shared() {
        return window.PiFocusShared;
    }

    function isNumber(value) {
        return shared().isNumber(value);
    }

    function formatNumber(value, decimals) {
        return shared().formatNumber(value, decimals);
    }

    function formatScore(value) {
        return shared().formatScore(value);
    }


    // The SVG is drawn in screen pixels: its viewBox is as wide as the box it is shown in
    // (the run view measures it), so a 12 px label is 12 px on the page at any width.
    var PLOT = {width: 300, minWidth: 200, height: 176, left: 22, right: 12, top: 18, bottom: 40};

    function validRange(range) {
        return Array.isArray(range) && isNumber(range[0]) && isNumber(range[1]) && range[1] > range[0];
    }

    /**
     * Everything the SVG needs, in its own coordinates: points, the line through them in
     * position order, x ticks, the marker of the chosen peak and of the lens's position.
     *
     * ``opts``: samples ([position, score]), limits (the lens range), range (what the run
     * searches: the x axis, fixed from the first frame), decimals, busy, result (the last
     * run's), position (where the lens is now, or null), width (px), units (the x axis's).
     */
    function plotGeometry(opts) {
        var samples = opts.samples || [];
        var limits = opts.limits;
        var decimals = opts.decimals;
        var busy = !!opts.busy;
        var result = opts.result;
        var width = isNumber(opts.width) && opts.width > 0 ? Math.max(PLOT.minWidth, Math.round(opts.width)) : PLOT.width;
        var height = PLOT.height;
        var innerW = width - PLOT.left - PLOT.right;
        var innerH = height - PLOT.top - PLOT.bottom;
        var positions = _.map(samples, function (s) {
            return s[0];
        });
        var scores = _.map(samples, function (s) {
            return s[1];
        });
        var peak = null;
        if (!busy && result && result.found && isNumber(result.position)) {
            peak = {position: result.position, score: isNumber(result.score) ? result.score : null};
            positions = positions.concat([result.position]);
            if (peak.score !== null) scores = scores.concat([peak.score]);
        }
        var current = !busy && isNumber(opts.position) ? opts.position : null;

        // x: what the run searches, from its first frame to its end (a refine run stays
        // readable, a full one shows the whole range); a sample outside it (a zoom that moved
        // past the window) widens it. Without a range (an older status), the samples' span.
        var lo, hi;
        var haveLimits = validRange(limits);
        if (validRange(opts.range)) {
            lo = opts.range[0];
            hi = opts.range[1];
            if (positions.length) {
                lo = Math.min(lo, _.min(positions));
                hi = Math.max(hi, _.max(positions));
            }
        } else if (positions.length) {
            lo = _.min(positions);
            hi = _.max(positions);
            var pad = Math.max((hi - lo) * 0.06, haveLimits ? (limits[1] - limits[0]) * 0.02 : 0);
            // Padding stays inside the lens range, unless the samples do not (a curve of
            // another driver, before a new run replaces it).
            var inside = haveLimits && lo >= limits[0] && hi <= limits[1];
            lo = inside ? Math.max(limits[0], lo - pad) : lo - pad;
            hi = inside ? Math.min(limits[1], hi + pad) : hi + pad;
        } else if (haveLimits) {
            lo = limits[0];
            hi = limits[1];
        } else {
            lo = 0;
            hi = 1;
        }
        // The lens's position is on the axis once no run is going (a move after a refine run
        // may leave its window).
        if (current !== null && (positions.length || haveLimits)) {
            lo = Math.min(lo, current);
            hi = Math.max(hi, current);
        }
        if (!(hi > lo)) {
            lo -= 1;
            hi += 1;
        }

        var ymax = scores.length ? _.max(scores) : 1;
        var ymin = scores.length ? Math.min(0, _.min(scores)) : 0;
        if (!(ymax > ymin)) ymax = ymin + 1;
        ymax = ymin + (ymax - ymin) * 1.08;

        function x(p) {
            return PLOT.left + ((p - lo) / (hi - lo)) * innerW;
        }
        function y(s) {
            return PLOT.top + innerH - ((s - ymin) / (ymax - ymin)) * innerH;
        }
        function r1(v) {
            return Math.round(v * 10) / 10;
        }
        function anchorAt(px) {
            return px < PLOT.left + innerW * 0.15 ? "start" : px > PLOT.left + innerW * 0.85 ? "end" : "middle";
        }

        var last = samples.length - 1;
        var points = _.map(samples, function (s, i) {
            var latest = busy && i === last;
            return {
                cx: r1(x(s[0])),
                cy: r1(y(s[1])),
                r: latest ? 4.5 : 3,
                cls: "pifocus-point" + (latest ? " pifocus-point-latest" : ""),
                title: formatNumber(s[0], decimals) + ": " + formatScore(s[1])
            };
        });

        var sorted = _.sortBy(samples, function (s) {
            return s[0];
        });
        var path = _.map(sorted, function (s, i) {
            return (i === 0 ? "M" : "L") + r1(x(s[0])) + " " + r1(y(s[1]));
        }).join(" ");

        // Ticks at both ends of the axis and in the middle (on the lens grid); none on a
        // made-up axis (no samples and no lens range yet).
        var scale = Math.pow(10, decimals || 0);
        var middle = Math.round(((lo + hi) / 2) * scale) / scale;
        var ticks = !positions.length && !haveLimits ? [] : _.map([lo, middle, hi], function (value, i) {
            return {
                x: r1(x(value)),
                label: formatNumber(value, decimals),
                anchor: i === 0 ? "start" : i === 2 ? "end" : "middle"
            };
        });

        var marker = null;
        if (peak) {
            var px = r1(x(peak.position));
            var py = peak.score !== null ? r1(y(peak.score)) : PLOT.top;
            marker = {
                x: px,
                y: py,
                label: formatNumber(peak.position, decimals),
                anchor: anchorAt(px),
                labelY: Math.max(PLOT.top - 4, py - 9)
            };
        }

        // Where the lens is now: a line across the plot; its label unless the peak's is there.
        var now = null;
        if (current !== null && (positions.length || haveLimits)) {
            var cx = r1(x(current));
            now = {
                x: cx,
                label: formatNumber(current, decimals),
                showLabel: !marker || Math.abs(marker.x - cx) > 48,
                anchor: anchorAt(cx)
            };
        }

        var axisY = PLOT.top + innerH;
        return {
            width: width,
            height: height,
            viewBox: "0 0 " + width + " " + height,
            points: points,
            path: path,
            ticks: ticks,
            peak: marker,
            current: now,
            axisY: axisY,
            axisX0: PLOT.left,
            axisX1: width - PLOT.right,
            top: PLOT.top,
            middleX: r1(PLOT.left + innerW / 2),
            middleY: r1(PLOT.top + innerH / 2),
            tickLabelY: axisY + 15,
            titleY: axisY + 32,
            xTitle: opts.units ? opts.units : "",
            count: samples.length
        };
    }

    return {
        PLOT: PLOT,
        plotGeometry: plotGeometry
    };
})();
