/*
 * The focus curve: PiFocusChart.plotGeometry turns a run's samples into what the inline SVG of
 * pifocus_run.jinja2 draws (points, the line through them, x ticks, the chosen peak), in
 * the SVG's own coordinates. The sidebar, the settings page and the set-up all draw the
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


    var PLOT = {width: 300, height: 140, left: 8, right: 8, top: 14, bottom: 20};

    /**
     * Everything the SVG needs, in its own coordinates: points, the line through them in
     * position order, x ticks and the marker of the chosen peak.
     */
    function plotGeometry(samples, limits, decimals, busy, result) {
        var innerW = PLOT.width - PLOT.left - PLOT.right;
        var innerH = PLOT.height - PLOT.top - PLOT.bottom;
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

        // x: the span the search covered (a refine run stays readable), padded, within the
        // lens limits; before any sample, the whole range.
        var lo, hi;
        var haveLimits = Array.isArray(limits) && isNumber(limits[0]) && isNumber(limits[1]) && limits[1] > limits[0];
        if (positions.length) {
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

        // No ticks on a made-up axis (no samples and no lens range yet).
        var ticks = !positions.length && !haveLimits ? [] : _.map([lo, (lo + hi) / 2, hi], function (value, i) {
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
                anchor: px < PLOT.width * 0.2 ? "start" : px > PLOT.width * 0.8 ? "end" : "middle",
                labelY: Math.max(PLOT.top - 3, py - 8)
            };
        }

        return {
            width: PLOT.width,
            height: PLOT.height,
            viewBox: "0 0 " + PLOT.width + " " + PLOT.height,
            points: points,
            path: path,
            ticks: ticks,
            peak: marker,
            axisY: PLOT.top + innerH,
            axisX0: PLOT.left,
            axisX1: PLOT.width - PLOT.right,
            top: PLOT.top,
            count: samples.length
        };
    }

    return {
        PLOT: PLOT,
        plotGeometry: plotGeometry
    };
})();
