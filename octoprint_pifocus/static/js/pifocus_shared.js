/*
 * What the PiFocus view models share (window.PiFocusShared): number and score formatting in
 * the UI's language, the engine's messages translated, API error texts, the live run
 * (progress, curve, result from the status and the pushed messages; the curve's geometry is
 * pifocus_chart.js) and the region-of-interest editor on a snapshot. The sidebar
 * (pifocus_sidebar.js), the settings (pifocus_settings.js) and the set-up wizard
 * (pifocus_wizard.js) use the same code, so a curve or a dragged region behaves the same
 * everywhere.
 *
 * Defined when the script loads (the view models are built later, at document ready); no
 * gettext here at load time: OctoPrint defines it just before it builds the view models.
 */
window.PiFocusShared = (function () {
    "use strict";

    var PLUGIN = "pifocus";

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

    // ~~ numbers in the UI's language ("1,55" in German)

    /** The language OctoPrint shows its UI in (its global LOCALE: "de", "zh_CN"), as a BCP 47
     * tag for Intl; "en" when there is none. */
    function uiLocale() {
        var locale = typeof LOCALE === "string" && LOCALE ? LOCALE.replace(/_/g, "-") : "en";
        try {
            return Intl.NumberFormat.supportedLocalesOf([locale]).length ? locale : "en";
        } catch (e) {
            return "en";
        }
    }

    var numberFormats = {};

    /** An Intl.NumberFormat for the UI's language, cached; no thousands separators (a lens
     * position 1023 must not read as "1.023" in German). */
    function numberFormat(key, options) {
        var id = uiLocale() + "|" + key;
        if (!_.has(numberFormats, id)) {
            numberFormats[id] = new Intl.NumberFormat(uiLocale(), _.extend({useGrouping: false}, options));
        }
        return numberFormats[id];
    }

    /** ``value`` rounded to ``decimals``, without a minus sign on a value that rounds to 0. */
    function rounded(value, decimals) {
        var fixed = Number(value.toFixed(decimals));
        return fixed === 0 ? 0 : value;
    }

    function formatNumber(value, decimals) {
        if (!isNumber(value)) return "–";
        var digits = decimals === undefined ? 0 : Math.max(0, Math.min(20, decimals));
        return numberFormat("f" + digits, {minimumFractionDigits: digits, maximumFractionDigits: digits})
            .format(rounded(value, digits));
    }

    /** Focus scores have no unit and any magnitude: three significant digits. */
    function formatScore(value) {
        if (!isNumber(value)) return "–";
        var abs = Math.abs(value);
        if (abs >= 1000) return formatNumber(value, 0);
        if (abs === 0) return formatNumber(0, 0);
        return numberFormat("s3", {minimumSignificantDigits: 3, maximumSignificantDigits: 3}).format(value);
    }

    function formatSeconds(value) {
        if (!isNumber(value)) return "–";
        return formatNumber(value, value < 10 ? 1 : 0);
    }

    // ~~ the engine's messages in the user's language

    /**
     * A message described as {template, params} (the English template, a msgid of the plugin's
     * catalogue, and its parameters, each text or a message described the same way) in the
     * UI's language: OctoPrint's gettext, then _.sprintf with the parameters. ``fallback``
     * (the English text) when the template or a translation does not fit.
     */
    function translate(described, fallback) {
        if (!described || typeof described.template !== "string") return fallback;
        try {
            var values = {};
            _.each(described.params || {}, function (value, key) {
                values[key] = value && typeof value === "object" ? translate(value, "") : value;
            });
            return _.sprintf(gettext(described.template), values);
        } catch (e) {
            return fallback;
        }
    }

    /**
     * The text of ``object[key]`` (default "message") in the UI's language: the plugin puts
     * ``<key>_template`` and ``<key>_params`` next to an engine message (plugin/i18n.py). A text
     * without them that is a whole msgid of the catalogue (a sentence the plugin translated in
     * a background thread, where it knew no language, so it stayed English) is translated by
     * it; any other text is shown as it is.
     */
    function messageText(object, key) {
        key = key || "message";
        if (!object || object[key] === undefined || object[key] === null) return "";
        var text = String(object[key]);
        return translate({template: object[key + "_template"], params: object[key + "_params"]}, text ? gettext(text) : text);
    }

    // Driver names, by the status's "driver" key. Built on first use, like the labels below.
    var driverLabels = undefined;

    function driverLabel(driver, fallback) {
        if (driverLabels === undefined) {
            driverLabels = {
                simulated: gettext("simulated VCM"),
                i2c: gettext("I2C VCM"),
                v4l2: gettext("V4L2 focus control"),
                "camera-streamer": gettext("camera-streamer"),
                "printer-z": gettext("printer Z"),
                "": gettext("none")
            };
        }
        return _.has(driverLabels, driver) ? driverLabels[driver] : fallback;
    }

    /**
     * A status (GET, a command's reply, a push) with its texts in the UI's language, in place:
     * the lens error, why Z is blocked, the driver's name and the last result's message, for
     * it and for each device it lists. Returns ``st``.
     */
    function localizeStatus(st) {
        if (!st || typeof st !== "object") return st;
        _.each(["lens_error", "z_blocked"], function (key) {
            if (typeof st[key] === "string") st[key] = messageText(st, key);
        });
        if (typeof st.driver === "string") st.driver_name = driverLabel(st.driver, st.driver_name);
        if (st.last_result && typeof st.last_result === "object") {
            st.last_result.message = messageText(st.last_result);
        }
        if (Array.isArray(st.devices)) _.each(st.devices, localizeStatus);
        return st;
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
            if (body && typeof body.error === "string") return messageText(body, "error");
            if (xhr.status === 403) return gettext("You do not have the permission for this.");
            if (xhr.status) return xhr.status + " " + (xhr.statusText || "");
        }
        return gettext("The server did not answer.");
    }

    /** An error pop-up; ``text`` is a text, or an object whose "message" (with its template
     * and parameters) is shown in the UI's language. */
    function notifyError(title, text) {
        if (text && typeof text === "object") text = messageText(text);
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
                // "code" is the number a lens driver takes: a VCM chip's current step, a V4L2
                // camera's focus_absolute step; a newcomer reads those, not "code".
                units: {code: gettext("steps"), dioptre: gettext("dioptres"), mm: gettext("mm")},
                driverUnits: {
                    i2c: gettext("VCM steps"),
                    simulated: gettext("VCM steps"),
                    v4l2: gettext("focus steps")
                },
                phases: {
                    coarse: gettext("Coarse search"),
                    fine: gettext("Fine search"),
                    final: gettext("Final approach")
                }
            };
        }
        return _.has(labels[kind], key) ? labels[kind][key] : undefined;
    }

    /** The unit of a lens position as a user reads it; ``driver`` makes "code" specific
     * (VCM steps for an I2C or simulated VCM, focus steps for V4L2). */
    function unitsLabel(units, driver) {
        if (units === "code" && driver) {
            var specific = label("driverUnits", driver);
            if (specific) return specific;
        }
        return label("units", units) || (units ? String(units) : "");
    }

    /** The units label of a status (its units and driver). */
    function statusUnits(st) {
        return st ? unitsLabel(st.units, st.driver) : "";
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

    /** The lens range [min, max] of a status, or null while it is unknown or not a range. */
    function statusLimits(st) {
        var limits = st && st.limits;
        if (Array.isArray(limits) && isNumber(limits[0]) && isNumber(limits[1]) && limits[1] > limits[0]) {
            return [limits[0], limits[1]];
        }
        return null;
    }

    function validRoi(roi) {
        if (!Array.isArray(roi) || roi.length !== 4) return false;
        for (var i = 0; i < 4; i++) {
            if (!isNumber(roi[i])) return false;
        }
        return roi[2] > 0 && roi[3] > 0;
    }

    // ~~ OctoPrint's webcams, as the camera choices offer them

    /** [{value: name, label}] of OctoPrint's webcams (settingsViewModel.webcam_webcams). */
    var MASK = "***";
    var SECRET_PARAM = /([?&;])([^=&;\s#]*(?:pas|pwd|token|secret|apikey|api_key|api-key|auth)[^=&;\s#]*)=([^&;\s#]*)/gi;

    /**
     * ``url`` for showing: its password (and secret query parameters) as ``***``, as
     * octoprint_pifocus.redact.mask_url does: the user information runs to the last "@", the
     * user name stays when a password follows it, user information without one is masked whole.
     */
    function maskUrl(url) {
        var text = String(url || "");
        var match = /^(\s*)([A-Za-z][A-Za-z0-9+.\-]*:\/\/)([\s\S]*)@/.exec(text);
        if (match) {
            var userinfo = match[3];
            var colon = userinfo.indexOf(":");
            var user = colon >= 0 ? userinfo.slice(0, colon) : "";
            var shown = colon >= 0 && user && !/[\/?#]/.test(user) ? user + ":" + MASK : MASK;
            text = match[1] + match[2] + shown + "@" + text.slice(match[0].length);
        }
        return text.replace(SECRET_PARAM, function (all, lead, name, value) {
            return value ? lead + name + "=" + MASK : all;
        });
    }

    function webcamChoices(settingsViewModel) {
        var webcams = settingsViewModel.webcam_webcams ? settingsViewModel.webcam_webcams() || [] : [];
        return _.map(webcams, function (w) {
            var name = ko.unwrap(w.name);
            var label = ko.unwrap(w.displayName) || name;
            if (ko.unwrap(w.canSnapshot) === false) label += " " + gettext("(no snapshots)");
            return {value: name, label: label};
        });
    }

    // ~~ a run: progress, the curve growing from pushed samples, the result

    /** A [low, high] pair of numbers, low < high, or null. */
    function validRange(range) {
        return Array.isArray(range) && isNumber(range[0]) && isNumber(range[1]) && range[1] > range[0]
            ? [range[0], range[1]]
            : null;
    }

    // The width of the box an element is shown in, into an observable, as it changes: the
    // curve is drawn in screen pixels (pifocus_chart.js). data-bind="pifocusWidth: plotWidth"
    if (window.ko && ko.bindingHandlers && !ko.bindingHandlers.pifocusWidth) {
        ko.bindingHandlers.pifocusWidth = {
            init: function (element, valueAccessor) {
                var target = valueAccessor();
                var update = function () {
                    var width = element.clientWidth;
                    if (width > 0 && width !== target()) target(width);
                };
                if (window.ResizeObserver) {
                    var observer = new ResizeObserver(update);
                    observer.observe(element);
                    ko.utils.domNodeDisposal.addDisposeCallback(element, function () {
                        observer.disconnect();
                    });
                }
                update();
            }
        };
    }

    /**
     * Adds to ``self`` the observables of an autofocus run and what the templates bind to
     * (progressPercent, progressText, plot, result, runStale), and the handlers for the pushed
     * messages (fromProgress, fromResult) and for a status (runFromStatus).
     * ``self`` must have the computeds limits, decimals and units; with ``self.status`` (the
     * lens status) the curve marks the lens's position and greys out once it moved.
     */
    /**
     * The lens as ``self.status()`` describes it, for the run view, the curve and the
     * controls: ``limits``, ``resolution``, ``decimals`` and ``units`` (the sidebar and the
     * Control tab's strip read the same status the same way).
     */
    function addLensView(self) {
        self.limits = ko.pureComputed(function () {
            return statusLimits(self.status());
        });
        self.resolution = ko.pureComputed(function () {
            var st = self.status();
            return st && isNumber(st.resolution) && st.resolution > 0 ? st.resolution : null;
        });
        self.decimals = ko.pureComputed(function () {
            return decimalsFor(self.resolution());
        });
        self.units = ko.pureComputed(function () {
            return statusUnits(self.status());
        });
    }

    function addRunView(self) {
        self.curve = ko.observableArray([]);
        self.busy = ko.observable(false);
        self.phase = ko.observable(null);
        self.progress = ko.observable(0);
        self.lastResult = ko.observable(null);
        self.searchRange = ko.observable(null); // what the current run searches: the x axis
        self.plotWidth = ko.observable(0);

        function lensStatus() {
            return ko.isObservable(self.status) ? self.status() : undefined;
        }

        /** The unit of positions (from the status: its driver says which steps). */
        self.runUnits = ko.pureComputed(function () {
            var st = lensStatus();
            return st ? statusUnits(st) : self.units();
        });

        /** Where the lens is now (null when unknown or without a status). */
        self.runPosition = ko.pureComputed(function () {
            var st = lensStatus();
            return st && isNumber(st.position) ? st.position : null;
        });

        /** The last run's curve and result no longer say where the lens is: it moved since. */
        self.runStale = ko.pureComputed(function () {
            var result = self.lastResult();
            var position = self.runPosition();
            if (self.busy() || !result || typeof result !== "object") return false;
            if (!isNumber(result.position) || position === null) return false;
            var st = lensStatus();
            var resolution = st && isNumber(st.resolution) && st.resolution > 0 ? st.resolution : 0;
            return Math.abs(position - result.position) > Math.max(resolution / 2, 1e-9);
        });

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
            var result = self.lastResult();
            var busy = self.busy();
            var range = busy ? self.searchRange() : validRange(result && result.search_range) || self.searchRange();
            var units = self.runUnits();
            return window.PiFocusChart.plotGeometry({
                samples: self.samples(),
                limits: self.limits(),
                range: range,
                decimals: self.decimals(),
                busy: busy,
                result: result,
                position: self.runPosition(),
                width: self.plotWidth(),
                units: units ? _.sprintf(gettext("position (%(units)s)"), {units: units}) : gettext("position")
            });
        });

        /** The result's message without a first sentence that repeats the title's "cancelled". */
        function cancelMessage(result, decimals) {
            if (isNumber(result.position) && result.position === result.start_position) {
                return _.sprintf(gettext("The lens is back where it started, at %(position)s %(units)s."), {
                    position: formatNumber(result.position, decimals),
                    units: self.runUnits()
                });
            }
            var message = String(result.message || "");
            // The engine's message starts with "Autofocus cancelled." (in English, or in the
            // user's language once translated): the title says it already.
            _.each(["Autofocus cancelled", gettext("Autofocus cancelled")], function (sentence) {
                var escaped = sentence.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
                message = message.replace(new RegExp("^\\s*" + escaped + "\\.?\\s*", "i"), "");
            });
            return message;
        }

        self.result = ko.pureComputed(function () {
            var result = self.lastResult();
            if (!result || typeof result !== "object" || self.busy()) return null;
            var decimals = self.decimals();
            var kind = result.found ? "success" : result.cancelled ? "warning" : "error";
            var title = result.found
                ? _.sprintf(gettext("In focus at %(position)s %(units)s"), {
                      position: formatNumber(result.position, decimals),
                      units: self.runUnits()
                  })
                : result.cancelled
                ? gettext("Autofocus cancelled")
                : gettext("Autofocus failed");
            var stale = self.runStale();
            if (stale) title = _.sprintf(gettext("Last run: %(result)s"), {result: title});
            // A score only means something for a found peak; a run that never took a frame
            // has no details at all.
            var frames = isNumber(result.captures) ? result.captures : 0;
            var details = "";
            if (result.found) {
                details = _.sprintf(gettext("score %(score)s · %(frames)s frames · %(seconds)s s"), {
                    score: formatScore(result.score),
                    frames: frames,
                    seconds: formatSeconds(result.duration)
                });
            } else if (frames > 0) {
                details = _.sprintf(gettext("%(frames)s frames · %(seconds)s s"), {
                    frames: frames,
                    seconds: formatSeconds(result.duration)
                });
            }
            return {
                kind: kind,
                css: "alert-" + kind + (stale ? " pifocus-stale" : ""),
                title: title,
                details: details,
                message: result.cancelled ? cancelMessage(result, decimals) : messageText(result),
                position: isNumber(result.position) ? formatNumber(result.position, decimals) : ""
            };
        });

        /** The run's part of a status (GET, a command's reply, a push): keeps a live curve
         * that is longer than the status's. */
        self.runFromStatus = function (st) {
            localizeStatus(st);
            var curve = Array.isArray(st.curve) ? st.curve.slice() : [];
            // Same run (busy before and after): a late reply must not drop pushed samples.
            if (!(st.busy && self.busy() && self.curve().length > curve.length)) {
                self.curve(curve);
            }
            // A run starting: its range (null before its first frame), not the last run's.
            if (st.busy && (!self.busy() || validRange(st.search_range))) {
                self.searchRange(validRange(st.search_range));
            }
            self.busy(!!st.busy);
            self.phase(st.phase || null);
            self.progress(isNumber(st.progress) ? st.progress : 0);
            if (st.last_result !== undefined) self.lastResult(st.last_result);
        };

        self.fromProgress = function (data) {
            if (!self.busy()) {
                // A run started (here or in another browser, by G-code, before a print).
                self.busy(true);
                self.curve([]);
                self.searchRange(null);
            }
            if (validRange(data.range)) self.searchRange(validRange(data.range));
            if (isNumber(data.fraction)) self.progress(data.fraction);
            if (data.phase) self.phase(data.phase);
            if (validSample(data.sample)) self.curve.push([data.sample[0], data.sample[1]]);
        };

        /** How many runs ended here (result messages): a command's reply that says busy but
         * was sent before the last one ended is older than what the pushes said since. */
        self.runsEnded = 0;

        self.fromResult = function (result) {
            if (!result || typeof result !== "object") return;
            self.runsEnded += 1;
            if (validRange(result.search_range)) self.searchRange(validRange(result.search_range));
            self.lastResult(result);
            self.busy(false);
            self.progress(1);
            if (Array.isArray(result.samples) && result.samples.length >= self.curve().length) {
                self.curve(result.samples.slice());
            }
        };
    }

    // ~~ the region of interest, dragged on a snapshot

    /**
     * Adds the snapshot and the rectangle editor (see pifocus_roi.jinja2) to ``self``;
     * ``roiTarget()`` returns the observable array [x, y, w, h] to edit, or null.
     */
    /**
     * The lens test (API command ``test``: nudge the saved lens and back) as ``self.test()``,
     * with ``self.testing`` and ``self.testResult`` ({ok, title, message}) to show.
     * ``allowed`` says whether the user may run it now.
     */
    function addLensTest(self, allowed, device) {
        self.testing = ko.observable(false);
        self.testResult = ko.observable(null);
        self.test = function () {
            if ((allowed && !allowed()) || self.testing()) return;
            self.testing(true);
            self.testResult(null);
            OctoPrint.simpleApiCommand(PLUGIN, "test", {device: device ? device() : undefined})
                .done(function (response) {
                    var ok = !!(response && response.ok);
                    self.testResult({
                        ok: ok,
                        title: ok ? gettext("Test passed:") : gettext("Test failed:"),
                        message: messageText(response)
                    });
                })
                .fail(function (xhr) {
                    self.testResult({ok: false, title: gettext("Test failed:"), message: errorText(xhr)});
                })
                .always(function () {
                    self.testing(false);
                });
        };
    }

    function addRoiEditor(self, roiTarget) {

        self.snapshotUrl = ko.observable("");
        self.snapshotLoading = ko.observable(false);
        self.snapshotError = ko.observable("");
        self.draft = ko.observable(null); // the rectangle being dragged, [x, y, w, h]
        var dragStart = null;

        self.refreshSnapshot = function () {
            self.snapshotLoading(true);
            self.snapshotError("");
            var device = self.snapshotDevice ? self.snapshotDevice() : undefined;
            var url = OctoPrint.getBlueprintUrl(PLUGIN) + "snapshot?_=" + Date.now() +
                (device ? "&device=" + encodeURIComponent(device) : "");
            // In the page's language, as OctoPrint's client asks for it (?l10n=...).
            var headers = OctoPrint.options && OctoPrint.options.locale ? {"X-Locale": OctoPrint.options.locale} : {};
            fetch(url, {credentials: "same-origin", cache: "no-store", headers: headers})
                .then(function (response) {
                    if (response.ok) return response.blob();
                    return response.text().then(function (text) {
                        var message = response.status + " " + response.statusText;
                        try {
                            var body = JSON.parse(text);
                            if (body && body.error) message = messageText(body, "error");
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
            var target = roiTarget();
            var roi = target ? ko.toJS(target) : null;
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
            var target = roiTarget();
            if (target && roi[2] >= 0.02 && roi[3] >= 0.02) target(roi);
            return false;
        };
        self.resetRoi = function () {
            var target = roiTarget();
            if (target) target([0.25, 0.25, 0.5, 0.5]);
        };
    }

    /** The focus device Settings > PiFocus should show when it opens next (the sidebar's
     * "Set up" for a device other than the first, which the set-up wizard does not edit). */
    var askedDevice = "";

    function askSettingsFor(device) {
        askedDevice = String(device || "");
    }

    /** The device asked for (once), or "". */
    function takeAskedDevice() {
        var device = askedDevice;
        askedDevice = "";
        return device;
    }

    return {
        PLUGIN: PLUGIN,
        isNumber: isNumber,
        askSettingsFor: askSettingsFor,
        takeAskedDevice: takeAskedDevice,
        toNumber: toNumber,
        decimalsFor: decimalsFor,
        formatNumber: formatNumber,
        formatScore: formatScore,
        formatSeconds: formatSeconds,
        uiLocale: uiLocale,
        translate: translate,
        messageText: messageText,
        driverLabel: driverLabel,
        localizeStatus: localizeStatus,
        errorText: errorText,
        notifyError: notifyError,
        unitsLabel: unitsLabel,
        statusUnits: statusUnits,
        phaseLabel: phaseLabel,
        validSample: validSample,
        validRoi: validRoi,
        statusLimits: statusLimits,
        webcamChoices: webcamChoices,
        maskUrl: maskUrl,
        addLensView: addLensView,
        addRunView: addRunView,
        addRoiEditor: addRoiEditor,
        addLensTest: addLensTest
    };
})();
