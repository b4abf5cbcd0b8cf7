/*
 * PiFocus in OctoPrint's web interface.
 *
 * - PiFocusViewModel: the sidebar panel (position, slider, nudges, Go, Autofocus with a live
 *   focus curve, result, presets) and the region-of-interest overlay on the Control tab's
 *   webcam.
 * - PiFocusSettingsViewModel: Settings > PiFocus (lens driver with Detect and Test, camera,
 *   the region of interest drawn on a snapshot, search, printer Z, automation).
 *
 * Both talk to the plugin's SimpleApi (GET/POST api/plugin/pifocus) and listen to its plugin
 * messages: {type: "status"|"progress"|"result"|"settings_error"}. The shapes are in
 * docs/plugin-contract.md. Every browser shows the same run: the curve grows from the pushed
 * progress messages, not from the reply to the click.
 *
 * Everything here reads the status defensively: while loading, for a user without the
 * permission, or with an older backend, fields may be missing.
 */
$(function () {
    "use strict";

    var PLUGIN = "pifocus";
    var OPTIONS_KEY = "plugin.pifocus.options";

    // ~~ helpers

    function isNumber(value) {
        return typeof value === "number" && isFinite(value);
    }

    function toNumber(value) {
        if (isNumber(value)) return value;
        if (typeof value === "string" && value.trim() !== "") {
            var parsed = Number(value);
            if (isFinite(parsed)) return parsed;
        }
        return null;
    }

    /** Decimals to show for values on a grid of ``resolution`` (1 -> 0, 0.01 -> 2). */
    function decimalsFor(resolution) {
        if (!isNumber(resolution) || resolution <= 0 || resolution >= 1) return 0;
        return Math.min(6, Math.max(0, Math.ceil(-Math.log10(resolution) - 1e-9)));
    }

    function formatNumber(value, decimals) {
        if (!isNumber(value)) return "–";
        return value.toFixed(decimals === undefined ? 0 : decimals);
    }

    /** Focus scores have no unit and any magnitude: three significant digits. */
    function formatScore(value) {
        if (!isNumber(value)) return "–";
        var abs = Math.abs(value);
        if (abs >= 1000) return value.toFixed(0);
        if (abs === 0) return "0";
        return value.toPrecision(3);
    }

    function formatSeconds(value) {
        if (!isNumber(value)) return "–";
        return value < 10 ? value.toFixed(1) : value.toFixed(0);
    }

    /** The message of a failed API call: the plugin's {"error": ...} or the HTTP status. */
    function errorText(xhr) {
        if (xhr) {
            var body = xhr.responseJSON;
            if (!body && xhr.responseText) {
                try {
                    body = JSON.parse(xhr.responseText);
                } catch (e) {
                    body = undefined;
                }
            }
            if (body && typeof body.error === "string") return body.error;
            if (xhr.status === 403) return gettext("You do not have the permission for this.");
            if (xhr.status) return xhr.status + " " + (xhr.statusText || "");
        }
        return gettext("The server did not answer.");
    }

    function notifyError(title, text) {
        new PNotify({
            title: title,
            text: _.escape(text),
            type: "error",
            hide: true,
            delay: 8000
        });
    }

    // Labels of the status's units and phases. Built on first use: OctoPrint defines gettext
    // after the plugins' scripts ran, just before it constructs the view models.
    var labels = undefined;

    function label(kind, key) {
        if (labels === undefined) {
            labels = {
                units: {code: gettext("code"), dioptre: gettext("dioptres"), mm: gettext("mm")},
                phases: {
                    coarse: gettext("Coarse search"),
                    fine: gettext("Fine search"),
                    final: gettext("Final approach")
                }
            };
        }
        return _.has(labels[kind], key) ? labels[kind][key] : undefined;
    }

    function unitsLabel(units) {
        return label("units", units) || (units ? String(units) : "");
    }

    function phaseLabel(phase) {
        return label("phases", phase) || gettext("Starting");
    }

    function validSample(sample) {
        return (
            Array.isArray(sample) &&
            sample.length >= 2 &&
            isNumber(sample[0]) &&
            isNumber(sample[1])
        );
    }

    function validRoi(roi) {
        if (!Array.isArray(roi) || roi.length !== 4) return false;
        for (var i = 0; i < 4; i++) {
            if (!isNumber(roi[i])) return false;
        }
        return roi[2] > 0 && roi[3] > 0;
    }

    // ~~ the plot of the focus curve (inline SVG, see pifocus_sidebar.jinja2)

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

    // ~~ the sidebar

    function PiFocusViewModel(parameters) {
        var self = this;

        self.loginState = parameters[0];
        self.access = parameters[1];
        self.settings = parameters[2];

        self.status = ko.observable(undefined);
        self.loadError = ko.observable("");
        self.curve = ko.observableArray([]);
        self.busy = ko.observable(false);
        self.phase = ko.observable(null);
        self.progress = ko.observable(0);
        self.lastResult = ko.observable(null);
        self.sending = ko.observable(false);

        self.refine = ko.observable(false);
        self.target = ko.observable("");
        self.sliderValue = ko.observable(0);
        self.sliderDragging = ko.observable(false);
        self.presetName = ko.observable("");

        var options = loadFromLocalStorage(OPTIONS_KEY, {}) || {};
        self.showRoi = ko.observable(!!options.showRoi);
        self.showRoi.subscribe(function (value) {
            saveToLocalStorage(OPTIONS_KEY, {showRoi: !!value});
            self.updateRoiOverlay();
        });

        // ~~ permissions and why controls are disabled

        function hasPermission(key) {
            var permission = self.access.permissions ? self.access.permissions[key] : undefined;
            return permission !== undefined && self.loginState.hasPermission(permission);
        }

        /** PLUGIN_PIFOCUS_CONTROL from OctoPrint's permissions, or what the API reported. */
        self.canControl = ko.pureComputed(function () {
            if (!self.loginState.loggedIn()) return false;
            if (hasPermission("PLUGIN_PIFOCUS_CONTROL")) return true;
            var st = self.status();
            return !!(st && st.permissions && st.permissions.control);
        });

        self.canSee = ko.pureComputed(function () {
            if (!self.loginState.loggedIn()) return false;
            if (self.canControl() || hasPermission("PLUGIN_PIFOCUS_ADMIN")) return true;
            var st = self.status();
            return !!(st && st.permissions && (st.permissions.control || st.permissions.admin));
        });

        self.noPermission = gettext(
            'You do not have the "PiFocus: Focus control" permission. Ask an administrator to grant it.'
        );

        /** Why nothing can be moved right now ("" when it can), busy aside. */
        self.disabledReason = ko.pureComputed(function () {
            if (!self.loginState.loggedIn()) return gettext("Log in to control the focus.");
            if (!self.canControl()) return self.noPermission;
            var st = self.status();
            if (!st) return self.loadError() || gettext("Loading the lens status…");
            if (!st.driver) {
                return gettext(
                    "No lens is configured. Choose a lens driver in Settings > PiFocus."
                );
            }
            if (st.lens_ok === false) {
                return st.lens_error || gettext("The lens cannot be used right now.");
            }
            if (st.z_blocked) return String(st.z_blocked);
            return "";
        });

        self.busyReason = gettext("An autofocus is running. Wait for it or cancel it.");

        /** Tooltips of enabled controls (a disabled one shows why instead). */
        self.titles = {
            slider: gettext("Drag and release to move the lens"),
            go: gettext("Move the lens to this position"),
            autofocus: gettext("Find the sharpest lens position"),
            cancel: gettext("Stop the autofocus and move the lens back"),
            deletePreset: gettext("Delete this preset"),
            savePreset: gettext("Save the current position under this name")
        };

        self.moveReason = ko.pureComputed(function () {
            return self.disabledReason() || (self.busy() ? self.busyReason : "");
        });
        self.canMove = ko.pureComputed(function () {
            return !self.moveReason() && !self.sending();
        });
        self.canCancel = ko.pureComputed(function () {
            return self.canControl() && self.busy();
        });
        self.canDeletePreset = ko.pureComputed(function () {
            return self.canControl() && !!self.status() && !self.sending();
        });

        // ~~ the lens

        self.limits = ko.pureComputed(function () {
            var st = self.status();
            var limits = st && st.limits;
            if (Array.isArray(limits) && isNumber(limits[0]) && isNumber(limits[1]) && limits[1] > limits[0]) {
                return [limits[0], limits[1]];
            }
            return null;
        });
        self.resolution = ko.pureComputed(function () {
            var st = self.status();
            return st && isNumber(st.resolution) && st.resolution > 0 ? st.resolution : null;
        });
        self.decimals = ko.pureComputed(function () {
            return decimalsFor(self.resolution());
        });
        self.units = ko.pureComputed(function () {
            var st = self.status();
            return unitsLabel(st && st.units);
        });
        self.position = ko.pureComputed(function () {
            var st = self.status();
            return st && isNumber(st.position) ? st.position : null;
        });
        self.positionText = ko.pureComputed(function () {
            return formatNumber(self.position(), self.decimals());
        });
        self.driverText = ko.pureComputed(function () {
            var st = self.status();
            if (!st) return "";
            if (!st.driver) return gettext("no lens");
            return st.driver_name || st.driver;
        });
        self.sliderMin = ko.pureComputed(function () {
            var limits = self.limits();
            return limits ? limits[0] : 0;
        });
        self.sliderMax = ko.pureComputed(function () {
            var limits = self.limits();
            return limits ? limits[1] : 1;
        });
        self.sliderStep = ko.pureComputed(function () {
            return self.resolution() || "any";
        });
        self.sliderText = ko.pureComputed(function () {
            return formatNumber(toNumber(self.sliderValue()), self.decimals());
        });

        /** ``step`` on the lens grid, at least one resolution step, tidied to its decimals. */
        function gridStep(step) {
            var resolution = self.resolution();
            if (resolution) {
                step = Math.max(resolution, Math.round(step / resolution) * resolution);
            }
            return Number(step.toFixed(self.decimals()));
        }

        // Nudges: coarse is 5 % of the lens range, fine is 1 % (at least one resolution step).
        // VCM 0..1023: 51 and 10 codes; printer Z 0..10 mm: 0.5 and 0.1 mm; camera-streamer
        // 0..12 dioptres: 0.6 and 0.12.
        self.coarseStep = ko.pureComputed(function () {
            var limits = self.limits();
            return limits ? gridStep((limits[1] - limits[0]) * 0.05) : null;
        });
        self.fineStep = ko.pureComputed(function () {
            var limits = self.limits();
            return limits ? gridStep((limits[1] - limits[0]) * 0.01) : null;
        });
        self.stepLabel = function (sign, step) {
            var value = step();
            if (!isNumber(value)) return sign > 0 ? "+" : "−";
            return (sign > 0 ? "+" : "−") + formatNumber(value, self.decimals());
        };
        self.nudgeTitle = function (sign, coarse) {
            var reason = self.moveReason();
            if (reason) return reason;
            var step = coarse ? self.coarseStep() : self.fineStep();
            var text = coarse
                ? gettext("Coarse nudge (5%% of the range): %(step)s %(units)s")
                : gettext("Fine nudge (1%% of the range): %(step)s %(units)s");
            return _.sprintf(text, {
                step: (sign > 0 ? "+" : "−") + formatNumber(step, self.decimals()),
                units: self.units()
            });
        };

        // ~~ autofocus, result, curve

        self.progressPercent = ko.pureComputed(function () {
            var value = self.progress();
            value = isNumber(value) ? Math.max(0, Math.min(1, value)) : 0;
            return Math.round(value * 100) + "%";
        });
        self.phaseText = ko.pureComputed(function () {
            return phaseLabel(self.phase());
        });
        self.progressText = ko.pureComputed(function () {
            return _.sprintf(gettext("%(phase)s, %(frames)d frames"), {
                phase: self.phaseText(),
                frames: self.curve().length
            });
        });

        self.samples = ko.pureComputed(function () {
            return _.filter(self.curve(), validSample);
        });

        self.plot = ko.pureComputed(function () {
            return plotGeometry(
                self.samples(),
                self.limits(),
                self.decimals(),
                self.busy(),
                self.lastResult()
            );
        });

        self.result = ko.pureComputed(function () {
            var result = self.lastResult();
            if (!result || typeof result !== "object" || self.busy()) return null;
            var decimals = self.decimals();
            var kind = result.found ? "success" : result.cancelled ? "warning" : "error";
            var title = result.found
                ? _.sprintf(gettext("In focus at %(position)s %(units)s"), {
                      position: formatNumber(result.position, decimals),
                      units: self.units()
                  })
                : result.cancelled
                ? gettext("Autofocus cancelled")
                : gettext("Autofocus failed");
            var details = _.sprintf(
                gettext("score %(score)s · %(frames)s frames · %(seconds)s s"),
                {
                    score: formatScore(result.score),
                    frames: isNumber(result.captures) ? result.captures : "–",
                    seconds: formatSeconds(result.duration)
                }
            );
            return {
                kind: kind,
                css: "alert-" + kind,
                title: title,
                details: details,
                message: result.message || "",
                position: isNumber(result.position) ? formatNumber(result.position, decimals) : ""
            };
        });

        // ~~ presets

        self.presets = ko.pureComputed(function () {
            var st = self.status();
            var presets = st && Array.isArray(st.presets) ? st.presets : [];
            var decimals = self.decimals();
            return _.map(
                _.filter(presets, function (p) {
                    return p && typeof p.name === "string";
                }),
                function (p) {
                    return {
                        name: p.name,
                        position: p.position,
                        positionText: formatNumber(toNumber(p.position), decimals)
                    };
                }
            );
        });
        self.canSavePreset = ko.pureComputed(function () {
            var name = (self.presetName() || "").trim();
            // The length limit is the field's maxlength (the backend checks it too).
            return self.canMove() && name.length >= 1 && self.position() !== null;
        });

        // ~~ status in, from the API and the push messages

        /** A status from GET, a command's reply or a push; keeps a live curve that is longer. */
        self.fromStatus = function (st) {
            if (!st || typeof st !== "object") return;
            var curve = Array.isArray(st.curve) ? st.curve.slice() : [];
            // Same run (busy before and after): a late reply must not drop pushed samples.
            if (!(st.busy && self.busy() && self.curve().length > curve.length)) {
                self.curve(curve);
            }
            self.status(st);
            self.loadError("");
            self.busy(!!st.busy);
            self.phase(st.phase || null);
            self.progress(isNumber(st.progress) ? st.progress : 0);
            if (st.last_result !== undefined) self.lastResult(st.last_result);
            if (!self.sliderDragging() && isNumber(st.position)) {
                self.sliderValue(st.position);
            }
            self.updateRoiOverlay();
        };

        self.fromProgress = function (data) {
            if (!self.busy()) {
                // A run started (here or in another browser, by G-code, before a print).
                self.busy(true);
                self.curve([]);
            }
            if (isNumber(data.fraction)) self.progress(data.fraction);
            if (data.phase) self.phase(data.phase);
            if (validSample(data.sample)) self.curve.push([data.sample[0], data.sample[1]]);
        };

        self.fromResult = function (result) {
            if (!result || typeof result !== "object") return;
            self.lastResult(result);
            self.busy(false);
            self.progress(1);
            if (Array.isArray(result.samples) && result.samples.length >= self.curve().length) {
                self.curve(result.samples.slice());
            }
        };

        self.requestStatus = function () {
            if (!self.loginState.loggedIn()) {
                self.status(undefined);
                return;
            }
            OctoPrint.simpleApiGet(PLUGIN)
                .done(self.fromStatus)
                .fail(function (xhr) {
                    self.status(undefined);
                    self.loadError(
                        xhr && xhr.status === 403
                            ? self.noPermission
                            : _.sprintf(gettext("Could not load the lens status: %(error)s"), {
                                  error: errorText(xhr)
                              })
                    );
                });
        };

        /** POST a command; a status in the reply is applied, errors pop up. */
        self.command = function (command, payload, title) {
            self.sending(true);
            return OctoPrint.simpleApiCommand(PLUGIN, command, payload || {})
                .done(function (response) {
                    if (response && typeof response === "object" && "driver" in response) {
                        self.fromStatus(response);
                    }
                })
                .fail(function (xhr) {
                    notifyError(title || gettext("PiFocus"), errorText(xhr));
                    self.requestStatus();
                })
                .always(function () {
                    self.sending(false);
                });
        };

        // ~~ actions

        self.moveTo = function (position) {
            if (!self.canMove() || !isNumber(position)) return;
            var limits = self.limits();
            if (limits) position = Math.max(limits[0], Math.min(limits[1], position));
            self.command("move", {position: position}, gettext("Could not move the lens"));
        };

        self.sliderInput = function () {
            self.sliderDragging(true);
            return true;
        };
        self.sliderReleased = function () {
            self.sliderDragging(false);
            var value = toNumber(self.sliderValue());
            if (value !== null && value !== self.position()) self.moveTo(value);
            return true;
        };

        self.nudge = function (sign, coarse) {
            var step = coarse ? self.coarseStep() : self.fineStep();
            if (!self.canMove() || !isNumber(step)) return;
            self.command("nudge", {delta: sign * step}, gettext("Could not nudge the lens"));
        };

        self.go = function () {
            var value = toNumber(self.target());
            if (value === null) {
                notifyError(gettext("Could not move the lens"), gettext("Enter a number."));
                return;
            }
            self.moveTo(value);
        };

        self.autofocus = function () {
            if (!self.canMove()) return;
            self.lastResult(null);
            self.command("autofocus", {refine: !!self.refine()}, gettext("Autofocus did not start"));
        };

        self.cancel = function () {
            if (!self.canCancel()) return;
            OctoPrint.simpleApiCommand(PLUGIN, "cancel", {})
                .done(self.fromStatus)
                .fail(function (xhr) {
                    notifyError(gettext("Could not cancel the autofocus"), errorText(xhr));
                });
        };

        self.savePreset = function () {
            if (!self.canSavePreset()) return;
            var name = self.presetName().trim();
            self.command("preset_save", {name: name}, gettext("Could not save the preset")).done(
                function () {
                    self.presetName("");
                }
            );
        };
        self.applyPreset = function (preset) {
            if (!self.canMove()) return;
            self.command("preset_apply", {name: preset.name}, gettext("Could not apply the preset"));
        };
        self.deletePreset = function (preset) {
            if (!self.canDeletePreset()) return;
            self.command(
                "preset_delete",
                {name: preset.name},
                gettext("Could not delete the preset")
            );
        };
        self.applyTitle = function (preset) {
            return (
                self.moveReason() ||
                _.sprintf(gettext("Move the lens to %(position)s %(units)s"), {
                    position: preset.positionText,
                    units: self.units()
                })
            );
        };

        // ~~ the region of interest over the Control tab's webcam

        /** settings.plugins.pifocus.roi, read each time: the settings load after this view model
         * is built (a computed made now would never see them). */
        self.roi = function () {
            var settings = self.settings.settings;
            var pifocus = settings && settings.plugins ? settings.plugins.pifocus : undefined;
            var roi = pifocus && pifocus.roi ? ko.toJS(pifocus.roi) : null;
            return validRoi(roi) ? roi : null;
        };

        /** The box of the picture itself inside an <img>/<video> (object-fit: contain aware). */
        function contentBox(element) {
            var rect = element.getBoundingClientRect();
            var box = {left: rect.left, top: rect.top, width: rect.width, height: rect.height};
            var naturalW = element.naturalWidth || element.videoWidth;
            var naturalH = element.naturalHeight || element.videoHeight;
            var fit = window.getComputedStyle(element).objectFit;
            if (naturalW && naturalH && (fit === "contain" || fit === "scale-down")) {
                var scale = Math.min(rect.width / naturalW, rect.height / naturalH);
                box.width = naturalW * scale;
                box.height = naturalH * scale;
                box.left += (rect.width - box.width) / 2;
                box.top += (rect.height - box.height) / 2;
            }
            return box;
        }

        self.updateRoiOverlay = function () {
            var container = $("#webcam_plugins_container");
            if (!container.length) return;
            var overlay = container.children(".pifocus-roi-overlay");
            var roi = self.roi();
            if (!self.showRoi() || !roi) {
                overlay.hide();
                return;
            }
            var media = container
                .find(".tab-pane.active img, .tab-pane.active video")
                .filter(function () {
                    var rect = this.getBoundingClientRect();
                    return $(this).is(":visible") && rect.width > 20 && rect.height > 20;
                })
                .first();
            if (!media.length) {
                overlay.hide();
                return;
            }
            if (!overlay.length) {
                overlay = $('<div class="pifocus-roi-overlay"><span></span></div>');
                overlay.children("span").text(gettext("Focus region"));
                container.append(overlay);
            }
            var outer = container[0].getBoundingClientRect();
            var box = contentBox(media[0]);
            overlay
                .css({
                    left: box.left - outer.left - container[0].clientLeft + roi[0] * box.width,
                    top: box.top - outer.top - container[0].clientTop + roi[1] * box.height,
                    width: roi[2] * box.width,
                    height: roi[3] * box.height
                })
                .show();
        };

        var overlayTimer = undefined;
        function watchOverlay() {
            // The webcam image loads, resizes and switches tabs without telling anyone:
            // follow it twice a second while the overlay is on, do nothing otherwise.
            if (overlayTimer !== undefined) return;
            overlayTimer = window.setInterval(function () {
                if (self.showRoi()) self.updateRoiOverlay();
            }, 500);
            $(window).on("resize", self.updateRoiOverlay);
        }

        // ~~ OctoPrint's view model callbacks

        self.onStartup = function () {
            watchOverlay();
        };

        self.onAllBound = function () {
            self.requestStatus();
            var settings = self.settings.settings;
            var pifocus = settings && settings.plugins ? settings.plugins.pifocus : undefined;
            if (pifocus && ko.isObservable(pifocus.roi)) pifocus.roi.subscribe(self.updateRoiOverlay);
            self.updateRoiOverlay();
        };

        self.onUserLoggedIn = self.onUserPermissionsChanged = function () {
            self.requestStatus();
        };

        self.onUserLoggedOut = function () {
            self.status(undefined);
            self.curve([]);
            self.busy(false);
            self.lastResult(null);
        };

        self.onTabChange = function () {
            window.setTimeout(self.updateRoiOverlay, 50);
        };

        self.onSettingsSaved = function () {
            // The driver or camera may have changed.
            self.requestStatus();
        };

        self.onDataUpdaterReconnect = function () {
            self.requestStatus();
        };

        self.onDataUpdaterPluginMessage = function (plugin, data) {
            if (plugin !== PLUGIN || !data || typeof data !== "object") return;
            if (!self.canSee()) return;
            var handlers = {
                status: function () {
                    self.fromStatus(data.status);
                },
                progress: self.fromProgress,
                result: function () {
                    self.fromResult(data.result);
                },
                automation: self.fromAutomation
            };
            if (_.has(handlers, data.type)) handlers[data.type](data);
        };

        /** A @PIFOCUS command or the autofocus before a print ended: say how, and what
         * happened to the print when it failed. */
        self.fromAutomation = function (data) {
            var policies = {
                continue: gettext("The print continues."),
                pause: gettext("The print was paused."),
                cancel: gettext("The print was cancelled.")
            };
            var text = [data.message || "", _.has(policies, data.policy) ? policies[data.policy] : ""];
            var command = {command: data.command || "@PIFOCUS"};
            if (data.cancelled) {
                // Cancelled by a user: no failure, the print goes on.
                new PNotify({
                    title: _.sprintf(gettext("%(command)s cancelled"), command),
                    text: _.escape(_.filter([data.message || "", policies["continue"]]).join(" ")),
                    type: "info",
                    hide: true
                });
                return;
            }
            new PNotify({
                title: data.ok
                    ? _.sprintf(gettext("%(command)s done"), command)
                    : _.sprintf(gettext("%(command)s failed"), command),
                text: _.escape(_.filter(text).join(" ")),
                type: data.ok ? "success" : "error",
                hide: !!data.ok
            });
        };
    }

    // ~~ settings

    /** The settings of docs/plugin-contract.md, for keys an older backend (or a restricted
     * view) does not send: the bindings of the settings page must find every observable. */
    var SETTINGS_SHAPE = {
        driver: "simulated",
        i2c: {bus: null, address: 12, chip: "dw9714", force: false},
        v4l2: {device: ""},
        camera_streamer: {url: "http://127.0.0.1:8080", device: "CAMERA", min: 0.0, max: 12.0},
        printer_z: {
            min: 0.0,
            max: 10.0,
            feedrate: 300,
            backlash: 0.1,
            resolution: 0.01,
            require_homed: true,
            restore_after_print_action: true
        },
        camera: {webcam: "", url: "", mode: "snapshot", settle: 0.25, discard: 0},
        roi: [0.25, 0.25, 0.5, 0.5],
        measure: "tenengrad",
        search: {range: "full", window: 80},
        automation: {
            restore_on_startup: true,
            restore_on_webcam_restart: true,
            autofocus_before_print: false,
            before_print_mode: "refine",
            failure_policy: "continue"
        }
    };

    function ensureObservables(target, shape) {
        _.each(shape, function (value, key) {
            if (_.isPlainObject(value)) {
                if (!_.isPlainObject(target[key])) target[key] = {};
                ensureObservables(target[key], value);
            } else if (Array.isArray(value)) {
                if (!ko.isObservable(target[key])) target[key] = ko.observableArray(value.slice());
            } else if (!ko.isObservable(target[key])) {
                target[key] = ko.observable(value);
            }
        });
    }

    /** value binding for numbers: writes a number, null for an empty field, and the text as
     * typed when it is not a number (the backend then refuses it with a message). */
    ko.bindingHandlers.pifocusNumber = {
        init: function (element, valueAccessor) {
            $(element).on("change", function () {
                var observable = valueAccessor();
                var text = $(element).val();
                if (text === null || String(text).trim() === "") {
                    observable(null);
                } else {
                    var number = toNumber(String(text).trim());
                    observable(number === null ? text : number);
                }
            });
        },
        update: function (element, valueAccessor) {
            var value = ko.unwrap(valueAccessor());
            var text = value === null || value === undefined ? "" : String(value);
            if ($(element).val() !== text) $(element).val(text);
        }
    };

    var CUSTOM_URL = "__url__";

    /** The options of a select, [{value, label}], from {value: label} in display order. */
    function choices(labels) {
        return _.map(_.keys(labels), function (value) {
            return {value: value, label: labels[value]};
        });
    }

    function PiFocusSettingsViewModel(parameters) {
        var self = this;

        self.settingsViewModel = parameters[0];
        self.loginState = parameters[1];
        self.access = parameters[2];

        self.pf = undefined; // settings.plugins.pifocus, set in onBeforeBinding

        // The options of the selects: {value: label} in display order.
        _.each({
            drivers: {
                "simulated": gettext("Simulated lens (demo)"),
                "i2c": gettext("I2C voice-coil lens (Arducam motorized focus)"),
                "v4l2": gettext("V4L2 webcam focus control"),
                "camera-streamer": gettext("camera-streamer (Pi Camera Module 3)"),
                "printer-z": gettext("Printer Z axis (microscope on the gantry)"),
                "": gettext("None")
            },
            measures: {
                "tenengrad": gettext("Tenengrad: Sobel gradient energy (default)"),
                "brenner": gettext("Brenner gradient"),
                "modified_laplacian": gettext("Modified Laplacian"),
                "normalized_variance": gettext("Normalized variance (wide, smooth curve)"),
                "laplacian_variance": gettext("Variance of the Laplacian")
            },
            modes: {
                "snapshot": gettext("Snapshot: one picture per frame"),
                "stream": gettext("Stream: frames from the MJPEG stream")
            },
            ranges: {
                "full": gettext("The full lens range"),
                "window": gettext("A window around the current position")
            },
            beforePrintModes: {
                "refine": gettext("Refine around the current position"),
                "full": gettext("Full search")
            },
            policies: {
                "continue": gettext("Continue the print"),
                "pause": gettext("Pause the print"),
                "cancel": gettext("Cancel the print")
            }
        }, function (labels, name) {
            self[name] = choices(labels);
        });
        self.chips = ["dw9714", "dw9807", "dw9817", "ak7375"];

        /** A refused save (settings_error push): the message, shown above the form. */
        self.settingsError = ko.observable("");
        /** What the backend would refuse in the form as it stands ({field, message}), from
         * the API command validate_settings while the dialog is open. */
        self.validation = ko.observable(null);

        /** The message for the setting ``path`` ("printer_z.min") or a group of them. */
        self.fieldError = function (path) {
            var problem = self.validation();
            if (!problem || !problem.field) return "";
            var field = String(problem.field);
            return field === path || field.indexOf(path + ".") === 0 ? problem.message : "";
        };

        self.canAdmin = ko.pureComputed(function () {
            var permission = self.access.permissions
                ? self.access.permissions.PLUGIN_PIFOCUS_ADMIN
                : undefined;
            return permission !== undefined && self.loginState.hasPermission(permission);
        });

        // ~~ driver, Detect, Test

        self.driver = ko.pureComputed(function () {
            return self.pf ? self.pf.driver() : "";
        });

        self.probing = ko.observable(false);
        self.devices = ko.observableArray([]);
        self.probeError = ko.observable("");
        self.probed = ko.observable(false);

        self.detect = function () {
            if (!self.canAdmin() || self.probing()) return;
            self.probing(true);
            self.probeError("");
            OctoPrint.simpleApiCommand(PLUGIN, "probe", {driver: self.pf.driver()})
                .done(function (response) {
                    var devices = response && Array.isArray(response.devices) ? response.devices : [];
                    self.devices(devices);
                    self.probed(true);
                    var found = _.filter(devices, function (d) {
                        return d && d.found;
                    });
                    if (found.length === 1) self.useDevice(found[0]);
                })
                .fail(function (xhr) {
                    self.devices([]);
                    self.probeError(errorText(xhr));
                })
                .always(function () {
                    self.probing(false);
                });
        };

        self.deviceText = function (device) {
            var parts = [device.device || device.driver || ""];
            if (device.chip) parts.push(device.chip);
            if (Array.isArray(device.limits) && device.limits.length === 2) {
                parts.push(device.limits[0] + "…" + device.limits[1] + (device.units ? " " + unitsLabel(device.units) : ""));
            }
            return parts.join(" · ");
        };

        /** Fill the driver's options with what Detect found. */
        self.useDevice = function (device) {
            if (!device || !self.pf) return;
            var pf = self.pf;
            if (device.driver && device.driver !== pf.driver()) pf.driver(device.driver);
            switch (device.driver) {
                case "i2c":
                    if (isNumber(device.bus)) pf.i2c.bus(device.bus);
                    if (isNumber(device.address)) pf.i2c.address(device.address);
                    if (device.chip && _.includes(self.chips, String(device.chip).toLowerCase())) {
                        pf.i2c.chip(String(device.chip).toLowerCase());
                    }
                    break;
                case "v4l2":
                    if (device.device) pf.v4l2.device(device.device);
                    break;
                case "camera-streamer":
                    if (device.device && /^https?:\/\//.test(device.device)) {
                        pf.camera_streamer.url(device.device);
                    }
                    if (Array.isArray(device.limits) && device.limits.length === 2) {
                        pf.camera_streamer.min(device.limits[0]);
                        pf.camera_streamer.max(device.limits[1]);
                    }
                    break;
            }
        };

        self.testing = ko.observable(false);
        self.testResult = ko.observable(null);
        self.test = function () {
            if (!self.canAdmin() || self.testing()) return;
            self.testing(true);
            self.testResult(null);
            OctoPrint.simpleApiCommand(PLUGIN, "test", {})
                .done(function (response) {
                    var ok = !!(response && response.ok);
                    self.testResult({
                        ok: ok,
                        title: ok ? gettext("Test passed:") : gettext("Test failed:"),
                        message: (response && response.message) || ""
                    });
                })
                .fail(function (xhr) {
                    self.testResult({
                        ok: false,
                        title: gettext("Test failed:"),
                        message: errorText(xhr)
                    });
                })
                .always(function () {
                    self.testing(false);
                });
        };

        // ~~ I2C address in hex

        self.i2cAddress = ko.pureComputed({
            read: function () {
                var value = self.pf ? self.pf.i2c.address() : null;
                if (isNumber(value)) return "0x" + ("0" + value.toString(16).toUpperCase()).slice(-2);
                return value === null || value === undefined ? "" : String(value);
            },
            write: function (text) {
                text = String(text || "").trim();
                var value = /^0x[0-9a-f]+$/i.test(text)
                    ? parseInt(text, 16)
                    : /^[0-9]+$/.test(text)
                    ? parseInt(text, 10)
                    : text;
                self.pf.i2c.address(value);
            }
        });

        // ~~ camera: OctoPrint's webcams or a URL

        self.webcams = ko.pureComputed(function () {
            var webcams = self.settingsViewModel.webcam_webcams
                ? self.settingsViewModel.webcam_webcams() || []
                : [];
            return _.map(webcams, function (w) {
                var name = ko.unwrap(w.name);
                var label = ko.unwrap(w.displayName) || name;
                if (ko.unwrap(w.canSnapshot) === false) label += " " + gettext("(no snapshots)");
                return {value: name, label: label};
            });
        });
        self.cameraChoices = ko.pureComputed(function () {
            return [{value: "", label: gettext("OctoPrint's snapshot webcam")}]
                .concat(self.webcams())
                .concat([{value: CUSTOM_URL, label: gettext("Another camera, by URL")}]);
        });
        self.customUrl = ko.observable(false);
        self.cameraSource = ko.pureComputed({
            read: function () {
                if (!self.pf) return "";
                if (self.customUrl() || self.pf.camera.url()) return CUSTOM_URL;
                return self.pf.camera.webcam() || "";
            },
            write: function (value) {
                if (!self.pf) return;
                if (value === CUSTOM_URL) {
                    self.customUrl(true);
                } else {
                    self.customUrl(false);
                    self.pf.camera.webcam(value || "");
                    self.pf.camera.url("");
                }
            }
        });

        // ~~ the region of interest, dragged on a snapshot

        self.snapshotUrl = ko.observable("");
        self.snapshotLoading = ko.observable(false);
        self.snapshotError = ko.observable("");
        self.draft = ko.observable(null); // the rectangle being dragged, [x, y, w, h]
        var dragStart = null;

        self.refreshSnapshot = function () {
            self.snapshotLoading(true);
            self.snapshotError("");
            var url = OctoPrint.getBlueprintUrl(PLUGIN) + "snapshot?_=" + Date.now();
            fetch(url, {credentials: "same-origin", cache: "no-store"})
                .then(function (response) {
                    if (response.ok) return response.blob();
                    return response.text().then(function (text) {
                        var message = response.status + " " + response.statusText;
                        try {
                            var body = JSON.parse(text);
                            if (body && body.error) message = body.error;
                        } catch (e) {
                            // not JSON: keep the status line
                        }
                        throw new Error(message);
                    });
                })
                .then(function (blob) {
                    var old = self.snapshotUrl();
                    self.snapshotUrl(URL.createObjectURL(blob));
                    if (old) URL.revokeObjectURL(old);
                })
                .catch(function (error) {
                    self.snapshotError(
                        _.sprintf(gettext("No snapshot from the camera: %(error)s"), {
                            error: error && error.message ? error.message : String(error)
                        })
                    );
                })
                .then(function () {
                    self.snapshotLoading(false);
                });
        };

        self.roiValue = ko.pureComputed(function () {
            var draft = self.draft();
            if (draft) return draft;
            var roi = self.pf ? ko.toJS(self.pf.roi) : null;
            return validRoi(roi) ? roi : [0, 0, 1, 1];
        });
        self.roiStyle = ko.pureComputed(function () {
            var roi = self.roiValue();
            return {
                left: roi[0] * 100 + "%",
                top: roi[1] * 100 + "%",
                width: roi[2] * 100 + "%",
                height: roi[3] * 100 + "%"
            };
        });
        self.roiText = ko.pureComputed(function () {
            var roi = self.roiValue();
            return _.sprintf(gettext("x %(x)s%%, y %(y)s%%, width %(w)s%%, height %(h)s%%"), {
                x: Math.round(roi[0] * 100),
                y: Math.round(roi[1] * 100),
                w: Math.round(roi[2] * 100),
                h: Math.round(roi[3] * 100)
            });
        });

        function fractionAt(event, element) {
            var rect = element.getBoundingClientRect();
            var x = (event.clientX - rect.left) / rect.width;
            var y = (event.clientY - rect.top) / rect.height;
            return [Math.max(0, Math.min(1, x)), Math.max(0, Math.min(1, y))];
        }
        function rectangle(a, b) {
            var round = function (v) {
                return Math.round(v * 10000) / 10000;
            };
            var x = Math.min(a[0], b[0]);
            var y = Math.min(a[1], b[1]);
            return [round(x), round(y), round(Math.abs(a[0] - b[0])), round(Math.abs(a[1] - b[1]))];
        }

        self.roiPointerDown = function (data, event) {
            if (!self.snapshotUrl() || event.button !== 0) return true;
            var element = event.currentTarget;
            dragStart = fractionAt(event, element);
            self.draft([dragStart[0], dragStart[1], 0, 0]);
            if (element.setPointerCapture && event.pointerId !== undefined) {
                try {
                    element.setPointerCapture(event.pointerId);
                } catch (e) {
                    // synthetic events have no capturable pointer
                }
            }
            return false;
        };
        self.roiPointerMove = function (data, event) {
            if (!dragStart) return true;
            self.draft(rectangle(dragStart, fractionAt(event, event.currentTarget)));
            return false;
        };
        self.roiPointerUp = function (data, event) {
            if (!dragStart) return true;
            var roi = rectangle(dragStart, fractionAt(event, event.currentTarget));
            dragStart = null;
            self.draft(null);
            // A click or a sliver is not a region: keep the old one.
            if (roi[2] >= 0.02 && roi[3] >= 0.02) self.pf.roi(roi);
            return false;
        };
        self.resetRoi = function () {
            if (self.pf) self.pf.roi([0.25, 0.25, 0.5, 0.5]);
        };

        // ~~ OctoPrint's callbacks

        self.onBeforeBinding = function () {
            var settings = self.settingsViewModel.settings;
            if (!settings.plugins) settings.plugins = {};
            if (!settings.plugins.pifocus) settings.plugins.pifocus = {};
            ensureObservables(settings.plugins.pifocus, SETTINGS_SHAPE);
            self.pf = settings.plugins.pifocus;
            // (Computeds that read self.pf must not be woken before this point.)
            // Results of Detect and Test are about the driver they were run for.
            self.pf.driver.subscribe(function () {
                self.devices([]);
                self.probed(false);
                self.probeError("");
                self.testResult(null);
            });
        };

        // ~~ validation while editing: the backend's own rules (API command validate_settings)

        var EDITED = ["driver", "i2c", "v4l2", "camera_streamer", "printer_z", "camera", "roi",
                      "measure", "search", "automation"];
        var validating = undefined;
        var validationRequest = 0;

        function edited() {
            return _.pick(ko.toJS(self.pf), EDITED);
        }

        self.validate = function (settings) {
            if (!self.canAdmin()) return;
            var request = ++validationRequest;
            OctoPrint.simpleApiCommand(PLUGIN, "validate_settings", {settings: settings})
                .done(function () {
                    if (request === validationRequest) self.validation(null);
                })
                .fail(function (xhr) {
                    if (request !== validationRequest) return;
                    if (xhr && xhr.status === 400) {
                        var body = xhr.responseJSON || {};
                        self.validation({field: body.field || "", message: errorText(xhr)});
                    } else {
                        self.validation(null); // no verdict (older backend, no connection)
                    }
                });
        };

        function startValidating() {
            if (validating || !self.pf) return;
            validating = ko.pureComputed(edited).extend({rateLimit: 400});
            validating.subscribe(self.validate);
        }

        function stopValidating() {
            if (validating) validating.dispose();
            validating = undefined;
            validationRequest++;
            self.validation(null);
        }

        self.onSettingsShown = function () {
            self.customUrl(false);
            self.testResult(null);
            self.devices([]);
            self.probed(false);
            self.probeError("");
            self.settingsError("");
            self.refreshSnapshot();
            startValidating();
        };

        self.onSettingsHidden = function () {
            stopValidating();
            var old = self.snapshotUrl();
            self.snapshotUrl("");
            if (old) URL.revokeObjectURL(old);
        };

        self.onSettingsBeforeSave = function () {
            self.settingsError("");
        };

        self.onDataUpdaterPluginMessage = function (plugin, data) {
            if (plugin !== PLUGIN || !data || data.type !== "settings_error") return;
            var message = data.message || gettext("The settings were not saved.");
            self.settingsError(message);
            if (data.field) self.validation({field: data.field, message: message});
            if (self.loginState.hasPermission(self.access.permissions.SETTINGS)) {
                notifyError(gettext("PiFocus settings refused"), message);
            }
        };
    }

    OCTOPRINT_VIEWMODELS.push({
        construct: PiFocusViewModel,
        name: "piFocusViewModel",
        dependencies: ["loginStateViewModel", "accessViewModel", "settingsViewModel"],
        elements: ["#sidebar_plugin_pifocus_wrapper"]
    });

    OCTOPRINT_VIEWMODELS.push({
        construct: PiFocusSettingsViewModel,
        name: "piFocusSettingsViewModel",
        dependencies: ["settingsViewModel", "loginStateViewModel", "accessViewModel"],
        elements: ["#settings_plugin_pifocus"]
    });
});
