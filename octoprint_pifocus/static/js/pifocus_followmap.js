/*
 * Settings > PiFocus, the device form's "Follow focus" section (pifocus_followmap.jinja2):
 * PiFocusFollowMap.addFollowMap(self) gives the settings view model (pifocus_settings.js) an
 * ``fm`` with the calibration of the chosen device's focus map.
 *
 * The user picks the axes the focus depends on, then the points: typed in the table, taken
 * from "here" (the toolhead's position after jogging) or generated (a few heights, a line, a
 * grid with corners and centre). Calibrate runs the plugin's ``calibrate`` command; its
 * progress comes in the device's pushes. The result: each point's residual in depth-of-field
 * units (flagged points with Redo and Drop), the expected error, and a small plot: the points
 * and the fitted curve for one axis (drawn like pifocus_chart.js's focus curve), a colour map
 * with the points for X and Y (a canvas). The follow-mode settings (``follow``) are part of
 * the device's form and saved with it.
 */
window.PiFocusFollowMap = (function () {
    "use strict";

    var PLUGIN = "pifocus";
    var MAX_POINTS = 100;
    /** The plot, in screen pixels like the focus curve's. */
    var PLOT = {width: 360, height: 180, left: 44, right: 12, top: 14, bottom: 36};

    function shared() {
        return window.PiFocusShared;
    }

    function isNumber(value) {
        return typeof value === "number" && isFinite(value);
    }

    function fmt(value, decimals) {
        return shared().formatNumber(value, decimals);
    }

    /** The axis choices (AXIS_SETS), as labels; a printer-Z device's map is a height map. */
    function axisChoices(printerZ) {
        var all = [
            {value: "z", axes: ["z"], label: gettext("Z (the bed drops layer by layer)")},
            {value: "y", axes: ["y"], label: gettext("Y (a bed that moves in Y)")},
            {value: "x", axes: ["x"], label: gettext("X")},
            {value: "xy", axes: ["x", "y"], label: gettext("X and Y (a tilted or warped bed or board)")},
            {value: "xyz", axes: ["x", "y", "z"], label: gettext("X, Y and Z")}
        ];
        return printerZ ? _.filter(all, function (c) {
            return c.axes.indexOf("z") < 0;
        }) : all;
    }

    function evenly(from, to, count) {
        if (count < 2) return [from];
        return _.map(_.range(count), function (i) {
            return Math.round((from + (to - from) * i / (count - 1)) * 1000) / 1000;
        });
    }

    /** The positions a generator makes: "line" (count points from..to on each axis of a
     * one-axis map), "grid" (count per axis, serpentine), "corners" (the four corners and the
     * centre of the X/Y rectangle; Z, if an axis, at both ends). */
    function generate(kind, axes, ranges, count) {
        var values = {};
        _.each(axes, function (axis) {
            values[axis] = evenly(ranges[axis][0], ranges[axis][1], count);
        });
        if (kind === "corners" && axes.indexOf("x") >= 0) {
            var x = ranges.x, y = ranges.y;
            var xy = [[x[0], y[0]], [x[1], y[0]], [x[1], y[1]], [x[0], y[1]], [(x[0] + x[1]) / 2, (y[0] + y[1]) / 2]];
            var heights = axes.indexOf("z") >= 0 ? [ranges.z[0], ranges.z[1]] : [null];
            return _.flatten(_.map(heights, function (z) {
                return _.map(xy, function (p) {
                    var point = {x: p[0], y: p[1]};
                    if (z !== null) point.z = z;
                    return point;
                });
            }), true);
        }
        var result = [{}];
        _.each(axes, function (axis, depth) {
            var next = [];
            _.each(result, function (partial, i) {
                var list = (depth > 0 && i % 2 === 1) ? values[axis].slice().reverse() : values[axis];
                _.each(list, function (v) {
                    var point = _.clone(partial);
                    point[axis] = v;
                    next.push(point);
                });
            });
            result = next;
        });
        return result;
    }

    /** The one-axis plot: points (flagged ones marked) and the fitted curve through the knots,
     * lens position (in ``units``, written over the lens axis) against the toolhead position. */
    function curveGeometry(summary, width, units) {
        var axis = summary.axes[0];
        var w = Math.max(240, Math.round(width || PLOT.width));
        var innerW = w - PLOT.left - PLOT.right, innerH = PLOT.height - PLOT.top - PLOT.bottom;
        var xs = _.map(summary.points, function (p) {
            return p.position[axis];
        });
        var ys = _.map(summary.points, "lens").concat(_.map(summary.knots || [], function (k) {
            return k[1];
        }));
        var lo = _.min(xs), hi = _.max(xs), ylo = _.min(ys), yhi = _.max(ys);
        if (!(hi > lo)) { lo -= 1; hi += 1; }
        var pad = (yhi - ylo) * 0.1 || Math.max(Math.abs(yhi) * 0.05, 1);
        ylo -= pad; yhi += pad;
        function x(v) { return Math.round((PLOT.left + (v - lo) / (hi - lo) * innerW) * 10) / 10; }
        function y(v) { return Math.round((PLOT.top + innerH - (v - ylo) / (yhi - ylo) * innerH) * 10) / 10; }
        var decimals = summary.units === "mm" || summary.units === "dioptre" ? 2 : 0;
        return {
            viewBox: "0 0 " + w + " " + PLOT.height,
            axisX0: PLOT.left, axisX1: w - PLOT.right, top: PLOT.top, axisY: PLOT.top + innerH,
            path: _.map(summary.knots || [], function (k, i) {
                return (i ? "L" : "M") + x(k[0]) + " " + y(k[1]);
            }).join(" "),
            points: _.map(summary.points, function (p) {
                return {cx: x(p.position[axis]), cy: y(p.lens), cls: "pifocus-point" + (p.flag ? " pifocus-map-flagged" : ""),
                        title: axis.toUpperCase() + " " + fmt(p.position[axis], 1) + " mm: " + fmt(p.lens, decimals)};
            }),
            ticks: _.map([lo, (lo + hi) / 2, hi], function (v, i) {
                return {x: x(v), label: fmt(v, 0), anchor: i === 0 ? "start" : i === 2 ? "end" : "middle"};
            }),
            yTicks: _.map([ylo + pad, yhi - pad], function (v) {
                return {y: y(v), label: fmt(v, decimals)};
            }),
            tickLabelY: PLOT.top + innerH + 15,
            titleY: PLOT.top + innerH + 30,
            middleX: PLOT.left + innerW / 2,
            xTitle: axis.toUpperCase() + " (mm)",
            yTitle: units || ""
        };
    }

    /** A colour for a share 0..1: blue (low) through green to red (high). */
    function colour(share) {
        var s = Math.max(0, Math.min(1, share));
        var hue = Math.round(240 - 240 * s);
        return "hsl(" + hue + ", 70%, 50%)";
    }

    /** Draws an X/Y map's grid as colours and its points as circles (flagged: hollow). */
    function drawColourMap(canvas, summary) {
        var context = canvas.getContext && canvas.getContext("2d");
        if (!context || !summary || !summary.grid) return;
        var grid = summary.grid, values = _.flatten(grid.values);
        var lo = _.min(values), hi = _.max(values);
        var span = hi > lo ? hi - lo : 1;
        var w = canvas.width, h = canvas.height, margin = 10;
        var nx = grid.x.length, ny = grid.y.length;
        var cw = (w - 2 * margin) / nx, ch = (h - 2 * margin) / ny;
        context.clearRect(0, 0, w, h);
        _.each(grid.values, function (row, j) {
            _.each(row, function (value, i) {
                context.fillStyle = colour((value - lo) / span);
                // Y grows upwards, as on the printer's bed seen from above.
                context.fillRect(margin + i * cw, h - margin - (j + 1) * ch, Math.ceil(cw), Math.ceil(ch));
            });
        });
        var x0 = grid.x[0], x1 = grid.x[nx - 1], y0 = grid.y[0], y1 = grid.y[ny - 1];
        _.each(summary.points, function (p) {
            var px = margin + (x1 > x0 ? (p.position.x - x0) / (x1 - x0) : 0.5) * (w - 2 * margin);
            var py = h - margin - (y1 > y0 ? (p.position.y - y0) / (y1 - y0) : 0.5) * (h - 2 * margin);
            context.beginPath();
            context.arc(px, py, 5, 0, 2 * Math.PI);
            context.lineWidth = 2;
            context.strokeStyle = p.flag ? "#b94a48" : "#fff";
            context.fillStyle = p.flag ? "rgba(0,0,0,0)" : "#333";
            context.fill();
            context.stroke();
        });
    }

    if (window.ko && ko.bindingHandlers && !ko.bindingHandlers.pifocusColourMap) {
        ko.bindingHandlers.pifocusColourMap = {
            update: function (element, valueAccessor) {
                drawColourMap(element, ko.unwrap(valueAccessor()));
            }
        };
    }

    /** Adds ``self.fm`` (see the file's comment) to the settings view model ``self``. */
    function addFollowMap(self) {
        var fm = {};
        self.fm = fm;

        /** The chosen device's status (GET, then its pushes); null for a device not saved yet. */
        fm.status = ko.observable(null);
        fm.error = ko.observable("");
        fm.sending = ko.observable(false);
        fm.summary = ko.pureComputed(function () {
            var st = fm.status();
            return st && st.focus_map ? st.focus_map : null;
        });
        fm.calibration = ko.pureComputed(function () {
            var st = fm.status();
            return st ? st.calibration : null;
        });
        fm.running = ko.pureComputed(function () {
            var c = fm.calibration();
            return !!(c && c.running);
        });
        fm.saved = ko.pureComputed(function () {
            var entry = self.selected();
            return !!entry && !entry.isNew;
        });
        fm.printerZ = ko.pureComputed(function () {
            return self.pf.driver() === "printer-z";
        });
        fm.units = ko.pureComputed(function () {
            return shared().statusUnits(fm.status());
        });

        // ~~ the axes and the points

        fm.axisChoices = ko.pureComputed(function () {
            return axisChoices(fm.printerZ());
        });
        fm.axesChoice = ko.observable("y");
        fm.axes = ko.pureComputed(function () {
            var found = _.find(fm.axisChoices(), function (c) {
                return c.value === fm.axesChoice();
            });
            return found ? found.axes : fm.axisChoices()[0].axes;
        });
        fm.hasAxis = function (axis) {
            return fm.axes().indexOf(axis) >= 0;
        };
        fm.points = ko.observableArray([]);

        function newPoint(position) {
            position = position || {};
            return {
                x: ko.observable(isNumber(position.x) ? String(position.x) : ""),
                y: ko.observable(isNumber(position.y) ? String(position.y) : ""),
                z: ko.observable(isNumber(position.z) ? String(position.z) : "")
            };
        }
        fm.addPoint = function () {
            if (fm.points().length < MAX_POINTS) fm.points.push(newPoint());
        };
        fm.removePoint = function (point) {
            fm.points.remove(point);
        };
        fm.clearPoints = function () {
            fm.points([]);
        };

        /** "Here": the toolhead's position (the printer's M114) as a new point. */
        fm.here = function () {
            fm.error("");
            OctoPrint.simpleApiCommand(PLUGIN, "map_here", {device: self.selectedId()})
                .done(function (response) {
                    if (fm.points().length < MAX_POINTS) fm.points.push(newPoint(response.position));
                })
                .fail(function (xhr) {
                    fm.error(shared().errorText(xhr));
                });
        };

        // The generator: a few heights, a line, a grid, corners and centre.
        fm.generator = ko.observable("line");
        fm.generatorCount = ko.observable("3");
        fm.range = {};
        _.each(["x", "y", "z"], function (axis) {
            fm.range[axis] = {from: ko.observable(axis === "z" ? "0" : "20"), to: ko.observable(axis === "z" ? "20" : "180")};
        });
        fm.generators = ko.pureComputed(function () {
            var choices = [{value: "line", label: fm.axes().length === 1
                ? (fm.hasAxis("z") ? gettext("A few heights") : gettext("A line")) : gettext("A grid")}];
            if (fm.hasAxis("x") && fm.hasAxis("y")) choices.push({value: "corners", label: gettext("Corners and centre")});
            return choices;
        });
        fm.generate = function () {
            fm.error("");
            var ranges = {}, bad = null;
            _.each(fm.axes(), function (axis) {
                var from = shared().toNumber(fm.range[axis].from()), to = shared().toNumber(fm.range[axis].to());
                if (!isNumber(from) || !isNumber(to) || from === to) bad = axis;
                ranges[axis] = [from, to];
            });
            if (bad) {
                fm.error(_.sprintf(gettext("Give the %(axis)s range two different numbers (mm)."), {axis: bad.toUpperCase()}));
                return;
            }
            var count = Math.round(shared().toNumber(fm.generatorCount()));
            if (!isNumber(count) || count < 2) count = 2;
            var kind = _.find(fm.generators(), function (g) { return g.value === fm.generator(); }) ? fm.generator() : "line";
            var made = generate(kind, fm.axes(), ranges, count);
            if (made.length > MAX_POINTS) {
                fm.error(_.sprintf(gettext("That makes %(count)d points; a focus map holds at most %(max)d."),
                    {count: made.length, max: MAX_POINTS}));
                return;
            }
            fm.points(_.map(made, newPoint));
        };

        function pointsPayload() {
            return _.map(fm.points(), function (p) {
                var out = {};
                _.each(fm.axes(), function (axis) {
                    var text = p[axis]();
                    var number = shared().toNumber(text);
                    out[axis] = isNumber(number) ? number : text;
                });
                return out;
            });
        }

        // ~~ calibrate, cancel, redo, drop, clear

        function command(name, payload, done) {
            fm.error("");
            fm.sending(true);
            OctoPrint.simpleApiCommand(PLUGIN, name, _.extend({device: self.selectedId()}, payload || {}))
                .done(function (response) {
                    if (response && response.device === self.selectedId()) fm.status(response);
                    if (done) done(response);
                })
                .fail(function (xhr) {
                    fm.error(shared().errorText(xhr));
                })
                .always(function () {
                    fm.sending(false);
                });
        }
        fm.calibrate = function () {
            command("calibrate", {axes: fm.axes(), points: pointsPayload()});
        };
        fm.cancel = function () {
            command("calibration_cancel");
        };
        fm.redo = function (point) {
            command("map_point", {index: point.index, action: "redo"});
        };
        fm.drop = function (point) {
            command("map_point", {index: point.index, action: "drop"});
        };
        fm.clearMap = function () {
            command("map_clear");
        };
        fm.canCalibrate = ko.pureComputed(function () {
            return fm.saved() && !fm.running() && !fm.sending() && fm.points().length >= 2;
        });

        // ~~ progress and the result

        fm.progressText = ko.pureComputed(function () {
            var c = fm.calibration();
            if (!c || !c.running) return "";
            return _.sprintf(gettext("Point %(index)d of %(count)d"), {index: Math.min(c.index + 1, c.count), count: c.count});
        });
        fm.progressPercent = ko.pureComputed(function () {
            var c = fm.calibration();
            return c && c.count ? Math.round(100 * c.points.length / c.count) + "%" : "0%";
        });
        fm.outcomeText = ko.pureComputed(function () {
            var c = fm.calibration();
            if (!c || c.running) return "";
            var message = shared().messageText(c, "message");
            if (c.outcome === "cancelled") return message || gettext("The calibration was cancelled; the map is unchanged.");
            if (c.outcome === "failed") return message || gettext("The calibration failed.");
            return "";
        });
        fm.positionText = function (point) {
            return _.map(_.keys(point.position).sort(), function (axis) {
                return axis.toUpperCase() + " " + fmt(point.position[axis], 1);
            }).join(", ");
        };
        fm.lensDecimals = ko.pureComputed(function () {
            var s = fm.summary();
            return s && (s.units === "mm" || s.units === "dioptre") ? 2 : 0;
        });
        /** A point's lens position in the UI's locale (whole VCM steps, mm and dioptres to 0.01). */
        fm.lensText = function (point) {
            return fmt(point.lens, fm.lensDecimals());
        };
        fm.residualText = function (point) {
            var value = isNumber(point.loo_residual_dof) ? point.loo_residual_dof : point.residual_dof;
            return isNumber(value) ? fmt(value, 2) : "–";
        };
        fm.flagText = function (point) {
            if (point.flag === "failed") return gettext("autofocus failed");
            if (point.flag === "outlier") return gettext("does not fit");
            return "";
        };
        fm.expectedText = ko.pureComputed(function () {
            var s = fm.summary();
            if (!s) return "";
            if (isNumber(s.expected_error_dof)) {
                return _.sprintf(gettext("Expected error: %(error)s depth of field (below 0.5 stays sharp)."),
                    {error: fmt(s.expected_error_dof, 2)});
            }
            return gettext("Expected error: not known (too few points to check the map against).");
        });
        fm.kindText = ko.pureComputed(function () {
            var s = fm.summary();
            if (!s) return "";
            var kinds = {
                "piecewise": gettext("piecewise-linear"),
                "plane": gettext("a plane"),
                "quadratic": gettext("a quadratic surface"),
                "plane+z": gettext("a plane plus a linear Z term")
            };
            return _.sprintf(gettext("%(kind)s over %(axes)s, %(count)d points"), {
                kind: kinds[s.kind] || s.kind,
                axes: _.map(s.axes, function (a) { return a.toUpperCase(); }).join(", "),
                count: s.points.length
            });
        });
        fm.plotWidth = ko.observable(PLOT.width);
        fm.curve = ko.pureComputed(function () {
            var s = fm.summary();
            return s && s.axes.length === 1 && s.points.length ? curveGeometry(s, fm.plotWidth(), fm.units()) : null;
        });
        fm.colourRange = ko.pureComputed(function () {
            var s = fm.summary();
            if (!s || !s.grid) return null;
            var values = _.flatten(s.grid.values);
            return {low: fmt(_.min(values), fm.lensDecimals()), high: fmt(_.max(values), fm.lensDecimals())};
        });

        // ~~ follow mode (the ``follow`` section, saved with the device's settings)

        fm.hasFollow = ko.pureComputed(function () {
            var entry = self.selected();
            return !!entry && _.isPlainObject(entry.data().follow);
        });

        // ~~ the status of the chosen device

        function load() {
            var id = self.selectedId();
            fm.status(null);
            fm.error("");
            if (!id || !fm.saved() || !self.settingsShown) return;
            OctoPrint.simpleApiGet(PLUGIN, {data: {device: id}})
                .done(function (response) {
                    if (response && response.device === self.selectedId()) fm.status(response);
                });
        }
        self.selectedId.subscribe(function () {
            fm.points([]);
            _.defer(function () {
                // After the form shows the device: a printer-Z device (the microscope) maps X
                // and Y, a camera a bed that moves in Y.
                fm.axesChoice(self.pf.driver() === "printer-z" ? "xy" : "y");
                load();
            });
        });
        var shown = self.onSettingsShown;
        self.onSettingsShown = function () {
            shown.apply(self, arguments);
            load();
        };
        var onMessage = self.onDataUpdaterPluginMessage;
        self.onDataUpdaterPluginMessage = function (plugin, data) {
            onMessage.apply(self, arguments);
            if (plugin !== PLUGIN || !data || data.device !== self.selectedId()) return;
            if (data.type === "status" && data.status) {
                fm.status(data.status);
            } else if (data.type === "calibration" && fm.status()) {
                fm.status(_.extend({}, fm.status(), {calibration: data.calibration}));
            }
        };
        return fm;
    }

    return {
        addFollowMap: addFollowMap,
        generate: generate,
        curveGeometry: curveGeometry
    };
})();
