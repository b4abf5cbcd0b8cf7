/*
 * PiFocus in OctoPrint's sidebar: PiFocusViewModel.
 *
 * The panel (device selector, position, slider, nudges, Go, Autofocus with a live focus
 * curve, result, presets) and the region-of-interest overlay on the Control tab's webcam;
 * without a lens driver, one sentence and the button that opens the set-up.
 *
 * It talks to the plugin's SimpleApi (GET/POST api/plugin/pifocus) and listens to its plugin
 * messages: {type: "status"|"progress"|"result"|"automation"}. The shapes are in
 * docs/plugin-contract.md. Every browser shows the same run: the curve grows from the pushed
 * progress messages, not from the reply to the click. The status is read defensively: while
 * loading, for a user without the permission, or with an older backend, fields may be missing.
 *
 * Its neighbours: pifocus_settings.js (Settings > PiFocus), pifocus_wizard.js (the set-up),
 * pifocus_chart.js (the focus curve) and pifocus_shared.js (formatting, the run view, the ROI
 * editor).
 */
$(function () {
    "use strict";

    var PLUGIN = "pifocus";
    var OPTIONS_KEY = "plugin.pifocus.options";
    var DEVICE_KEY = "plugin.pifocus.device";

    // ~~ helpers, the run view and the ROI editor: pifocus_shared.js (the curve: pifocus_chart.js)

    var shared = window.PiFocusShared;
    var isNumber = shared.isNumber;
    var toNumber = shared.toNumber;
    var formatNumber = shared.formatNumber;
    var errorText = shared.errorText;
    var notifyError = shared.notifyError;
    var validRoi = shared.validRoi;

    // ~~ the sidebar

    function PiFocusViewModel(parameters) {
        var self = this;

        self.loginState = parameters[0];
        self.access = parameters[1];
        self.settings = parameters[2];
        self.wizard = parameters[3]; // the set-up (pifocus_wizard.js)

        self.status = ko.observable(undefined);
        self.loadError = ko.observable("");
        self.sending = ko.observable(false);

        self.refine = ko.observable(false);
        self.target = ko.observable("");
        self.sliderValue = ko.observable(0);
        self.sliderDragging = ko.observable(false);
        self.presetName = ko.observable("");

        // ~~ focus devices: the sidebar shows one, chosen here and remembered per browser ("":
        // the first); what the others run stays visible (docs/plugin-contract.md, Focus devices)
        self.devices = ko.observableArray([]);
        self.selectedDevice = ko.observable(String(loadFromLocalStorage(DEVICE_KEY, "") || ""));
        self.shownDevice = null; // the id of the device the status shown is of
        self.others = ko.observable({}); // id -> {name, activity, progress} of the other devices
        self.othersRunning = ko.pureComputed(function () {
            return _.filter(
                _.map(self.devices(), function (d) {
                    var other = self.others()[d.device];
                    if (d.device === self.shownDevice || !other || !other.activity) return null;
                    return _.sprintf(gettext("%(device)s: %(activity)s %(percent)s%%"), {
                        device: d.device_name,
                        activity: other.activity,
                        percent: Math.round(100 * (other.progress || 0))
                    });
                })
            );
        });
        self.selectedDevice.subscribe(function (value) {
            if (!value) return; // the selector before its options arrived
            saveToLocalStorage(DEVICE_KEY, value);
            if (value === self.shownDevice) return; // chosen already (the first status)
            // The curve, result and controls are the new device's: start from its status.
            self.busy(false);
            self.curve([]);
            self.lastResult(null);
            self.searchRange(null);
            self.requestStatus();
        });
        function withDevice(payload) {
            var device = self.selectedDevice();
            return device ? _.extend({}, payload || {}, {device: device}) : payload || {};
        }
        /** A push of another device than the one shown: noted for its progress line. */
        self.fromOtherDevice = function (data) {
            var others = _.clone(self.others());
            var other = _.extend({name: data.device_name}, others[data.device] || {});
            if (data.type === "status" && data.status) {
                other.activity = data.status.activity;
                other.progress = data.status.progress;
            } else if (data.type === "progress") {
                other.activity = other.activity || "autofocus";
                other.progress = data.fraction;
            } else if (data.type === "result") {
                other.activity = null;
            }
            others[data.device] = other;
            self.others(others);
        };

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
            if (!st.driver) return self.noDriverText();
            if (st.lens_ok === false) {
                return st.lens_error || gettext("The lens cannot be used right now.");
            }
            if (st.z_blocked) return String(st.z_blocked);
            return "";
        });

        // ~~ no lens driver yet (a fresh install, or the set-up was skipped)

        self.noDriver = ko.pureComputed(function () {
            var st = self.status();
            return !!st && self.canControl() && !st.driver;
        });
        /** PLUGIN_PIFOCUS_ADMIN: the set-up detects, tests and saves settings. */
        self.canSetUp = ko.pureComputed(function () {
            if (!self.loginState.loggedIn()) return false;
            if (hasPermission("PLUGIN_PIFOCUS_ADMIN")) return true;
            var st = self.status();
            return !!(st && st.permissions && st.permissions.admin);
        });
        self.noDriverText = ko.pureComputed(function () {
            return self.canSetUp()
                ? gettext("PiFocus has no lens driver yet: set it up to focus your camera.")
                : gettext("PiFocus has no lens driver yet: ask an administrator to set it up.");
        });
        /** The set-up wizard edits the first device; another device without a lens driver is set
         * up on its own form in Settings > PiFocus, opened on it. */
        self.openSetup = function () {
            if (!self.canSetUp()) return;
            var first = self.devices()[0];
            if (first && self.shownDevice && self.shownDevice !== first.device) {
                shared.askSettingsFor(self.shownDevice);
                self.settings.show("#settings_plugin_pifocus");
                return;
            }
            if (self.wizard) self.wizard.open();
        };

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

        shared.addLensView(self);
        self.position = ko.pureComputed(function () {
            var st = self.status();
            return st && isNumber(st.position) ? st.position : null;
        });
        self.positionText = ko.pureComputed(function () {
            return formatNumber(self.position(), self.decimals());
        });
        /** A usable lens whose position nobody knows yet (printer Z before its first move, or
         * after homing; a camera-streamer lens before its first set position): the slider's
         * thumb and the number would only guess. */
        self.positionUnknown = ko.pureComputed(function () {
            var st = self.status();
            return !!st && !!st.driver && st.lens_ok !== false && self.position() === null;
        });
        self.positionUnknownText = gettext(
            "Position unknown until the lens moves to a set position: use Go, the slider or a preset."
        );
        // A number typed for Go that is not where the lens went (a preset, a nudge, another
        // browser) would read as the position: it goes.
        self.position.subscribe(function (position) {
            var typed = toNumber(self.target());
            if (typed !== null && typed !== position) self.target("");
        });
        self.driverText = ko.pureComputed(function () {
            var st = self.status();
            if (!st) return "";
            if (!st.driver) return gettext("no lens");
            return st.driver_name || st.driver;
        });
        /** One line on follow focus (status.follow, issue 11): nothing without it or while off. */
        self.followText = ko.pureComputed(function () {
            var st = self.status();
            var follow = st && st.follow;
            if (!follow || !follow.enabled) return "";
            var text = follow.active
                ? _.sprintf(gettext("Following the focus map: %(moves)s lens moves"), {moves: isNumber(follow.moves) ? follow.moves : 0})
                : gettext("Follow focus is on, waiting for a known position");
            var notice = shared.messageText(follow, "notice");
            if (notice) text += " · " + notice;
            else if (follow.clamped) text += " · " + gettext("outside the calibrated range");
            return text;
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

        // ~~ autofocus, result, curve: the run view shared with the set-up wizard

        shared.addRunView(self);

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
            // Pushes of the other devices carry their own "device" and are not this one's.
            if (st.device) self.shownDevice = st.device;
            if (st.device && !self.selectedDevice()) self.selectedDevice(st.device);
            if (Array.isArray(st.devices)) {
                self.devices(
                    _.map(st.devices, function (d) {
                        return {device: d.device, device_name: d.device_name};
                    })
                );
                var others = {};
                _.each(st.devices, function (d) {
                    others[d.device] = {name: d.device_name, activity: d.activity, progress: d.progress};
                });
                self.others(others);
            }
            self.runFromStatus(st);
            self.drift(st.drift || null);
            self.status(st);
            self.loadError("");
            if (!self.sliderDragging() && isNumber(st.position)) {
                self.sliderValue(st.position);
            }
            self.updateRoiOverlay();
        };

        self.requestStatus = function () {
            if (!self.loginState.loggedIn()) {
                self.status(undefined);
                return;
            }
            var device = self.selectedDevice();
            OctoPrint.get(OctoPrint.getSimpleApiUrl(PLUGIN) + (device ? "?device=" + encodeURIComponent(device) : ""))
                .done(self.fromStatus)
                .fail(function (xhr) {
                    if (device && xhr && xhr.status === 400) {
                        // The device remembered here was removed: show the first one.
                        saveToLocalStorage(DEVICE_KEY, "");
                        self.shownDevice = null;
                        self.selectedDevice("");
                        self.requestStatus();
                        return;
                    }
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

        /** The handler of a command's reply (a status). The reply and the pushes travel apart:
         * a reply that still says busy after the run's result was pushed (a cancel answered
         * slowly) is older than that result, so the status is asked again instead. */
        function applyReply() {
            var ended = self.runsEnded;
            return function (response) {
                if (!response || typeof response !== "object" || !("driver" in response)) return;
                if (response.busy && self.runsEnded !== ended) {
                    self.requestStatus();
                    return;
                }
                self.fromStatus(response);
            };
        }

        /** POST a command; a status in the reply is applied, errors pop up. */
        self.command = function (command, payload, title) {
            self.sending(true);
            return OctoPrint.simpleApiCommand(PLUGIN, command, withDevice(payload))
                .done(applyReply())
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

        /** While dragging, the label above the slider follows the thumb (the lens moves on
         * release). */
        self.sliderInput = function (data, event) {
            self.sliderDragging(true);
            var value = event && event.target ? toNumber(event.target.value) : null;
            if (value !== null) self.sliderValue(value);
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

        /** The pointer (or the keyboard) reached the Autofocus button: a run is likely soon.
         * The server opens the camera's stream now, so the run starts on frames it already has
         * instead of connecting and waiting for new ones (about 0.2 s of a 1 s run at 30 fps).
         * At most every WARM_EVERY ms per device; a failure is the run's to report. */
        var WARM_EVERY = 10000;
        var warmedAt = {};
        self.warmCamera = function () {
            if (!self.canMove()) return true;
            var key = String(self.selectedDevice() || "");
            var now = Date.now();
            if (warmedAt[key] && now - warmedAt[key] < WARM_EVERY) return true;
            warmedAt[key] = now;
            OctoPrint.simpleApiCommand(PLUGIN, "warm_camera", withDevice({}));
            return true;
        };

        self.autofocus = function () {
            if (!self.canMove()) return;
            self.lastResult(null);
            self.command("autofocus", {refine: !!self.refine()}, gettext("Autofocus did not start"));
        };

        self.cancel = function () {
            if (!self.canCancel()) return;
            OctoPrint.simpleApiCommand(PLUGIN, "cancel", withDevice({}))
                .done(applyReply())
                .fail(function (xhr) {
                    notifyError(gettext("Could not cancel the autofocus"), errorText(xhr));
                });
        };

        /** The preset of that name (compared as the backend does: trimmed, NFC, without
         * case), or undefined. */
        function presetNamed(name) {
            var key = function (text) {
                text = String(text || "").trim();
                return (text.normalize ? text.normalize("NFC") : text).toLowerCase();
            };
            return _.find(self.presets(), function (p) {
                return key(p.name) === key(name);
            });
        }

        self.savePreset = function () {
            if (!self.canSavePreset()) return;
            var name = self.presetName().trim();
            var save = function () {
                self.command("preset_save", {name: name}, gettext("Could not save the preset")).done(function () {
                    self.presetName("");
                });
            };
            var existing = presetNamed(name);
            if (!existing) {
                save();
                return;
            }
            // Saving under a name in use replaces that preset: say so first.
            showConfirmationDialog({
                title: gettext("Replace the preset?"),
                message: _.escape(
                    _.sprintf(gettext('The preset "%(name)s" is at %(old)s %(units)s. Saving replaces it with %(new)s %(units)s.'), {
                        name: existing.name,
                        old: existing.positionText,
                        new: self.positionText(),
                        units: self.units()
                    })
                ),
                proceed: gettext("Replace"),
                proceedClass: "primary",
                dialogClass: "pifocus-confirm pifocus-confirm-replace",
                onproceed: save
            });
        };
        self.applyPreset = function (preset) {
            if (!self.canMove()) return;
            self.command("preset_apply", {name: preset.name}, gettext("Could not apply the preset"));
        };
        self.deletePreset = function (preset) {
            if (!self.canDeletePreset()) return;
            showConfirmationDialog({
                title: gettext("Delete the preset?"),
                message: _.escape(
                    _.sprintf(gettext('The preset "%(name)s" (%(position)s %(units)s) will be gone for every user.'), {
                        name: preset.name,
                        position: preset.positionText,
                        units: self.units()
                    })
                ),
                proceed: gettext("Delete"),
                proceedClass: "danger",
                dialogClass: "pifocus-confirm pifocus-confirm-delete",
                onproceed: function () {
                    self.command("preset_delete", {name: preset.name}, gettext("Could not delete the preset"));
                }
            });
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

        /** The chosen device's region (its status), else settings.plugins.pifocus.roi (the
         * first device), read each time: the settings load after this view model is built (a
         * computed made now would never see them). */
        self.roi = function () {
            var st = self.status();
            if (st && validRoi(st.roi)) return st.roi;
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
            self.status.subscribe(self.updateRoiOverlay);  // another device chosen, or its region saved
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
            self.searchRange(null);
        };

        self.onTabChange = function () {
            window.setTimeout(self.updateRoiOverlay, 50);
        };

        // OctoPrint's event after any settings save (it has no onSettingsSaved callback): the
        // devices, a driver or a camera may have changed.
        self.onEventSettingsUpdated = function () {
            self.requestStatus();
        };

        self.onDataUpdaterReconnect = function () {
            self.requestStatus();
        };

        self.onDataUpdaterPluginMessage = function (plugin, data) {
            if (plugin !== PLUGIN || !data || typeof data !== "object") return;
            if (!self.canSee()) return;
            if (data.type === "drift_alert") {
                // Every device's drift is worth telling, shown or not.
                self.fromDriftAlert(data);
                return;
            }
            if (data.device && self.shownDevice && data.device !== self.shownDevice) {
                self.fromOtherDevice(data);
                return;
            }
            var handlers = {
                status: function () {
                    self.fromStatus(data.status);
                },
                progress: self.fromProgress,
                result: function () {
                    self.fromResult(data.result);
                },
                automation: self.fromAutomation,
                drift: function () {
                    self.drift(data.drift || null);
                }
            };
            if (_.has(handlers, data.type)) handlers[data.type](data);
        };

        // ~~ the drift watch: its state and trace (pifocus_drift.jinja2), its alerts

        self.drift = ko.observable(null);
        self.driftState = ko.pureComputed(function () {
            var drift = self.drift();
            return drift ? drift.state : null;
        });
        self.driftShown = ko.pureComputed(function () {
            var drift = self.drift();
            return !!drift && drift.watch !== "off";
        });
        self.driftStateText = ko.pureComputed(function () {
            var drift = self.drift();
            if (!drift) return "";
            var percent = isNumber(drift.drop) ? Math.round(100 * drift.drop) : null;
            var texts = {
                idle: drift.watch === "printing"
                    ? gettext("Watches the focus while a print runs.")
                    : gettext("Watches the focus after the next focus."),
                learning: gettext("Taking the baseline sharpness..."),
                watching: percent !== null && percent > 0
                    ? _.sprintf(gettext("In focus: sharpness %(percent)s%% below the baseline."), {percent: percent})
                    : gettext("In focus."),
                drift: _.sprintf(gettext("Out of focus: sharpness %(percent)s%% below the baseline."),
                                 {percent: percent === null ? "?" : percent})
            };
            var text = texts[drift.state] || "";
            if (drift.refocus_pending) text += " " + gettext("A refocus follows at the next layer change.");
            return text;
        });
        /** The trace as SVG coordinates in a 240 x 48 box: the last samples' scores, the
         * baseline and threshold lines, and the marks (baseline, drift, refocus) by time. */
        self.driftTrace = ko.pureComputed(function () {
            var empty = {points: "", baseline: null, threshold: null, marks: []};
            var drift = self.drift();
            if (!drift || !drift.trace || drift.trace.length < 2) return empty;
            var trace = drift.trace;
            var t0 = trace[0][0], t1 = trace[trace.length - 1][0];
            var span = Math.max(1, t1 - t0);
            var top = _.max(_.map(trace, function (p) { return p[1]; }).concat([drift.baseline || 0])) * 1.1 || 1;
            var x = function (t) { return (240 * (t - t0) / span).toFixed(1); };
            var y = function (v) { return (46 - 44 * Math.max(0, v) / top).toFixed(1); };
            var colours = {baseline: "#5cb85c", drift: "#d9534f", refocus: "#f0ad4e"};
            var titles = {
                baseline: gettext("new baseline"),
                drift: gettext("drift reported"),
                refocus: gettext("refocused")
            };
            return {
                points: _.map(trace, function (p) { return x(p[0]) + "," + y(p[1]); }).join(" "),
                baseline: isNumber(drift.baseline) ? y(drift.baseline) : null,
                threshold: isNumber(drift.threshold) ? y(drift.threshold) : null,
                marks: _.map(_.filter(drift.marks || [], function (m) { return m.time >= t0 && m.time <= t1; }),
                             function (m) {
                                 return {x: x(m.time), kind: m.kind, colour: colours[m.kind] || "#999",
                                         title: titles[m.kind] || m.kind};
                             })
            };
        });
        /** camera-streamer (Camera Module 3): whether libcamera's own autofocus is held off. */
        self.afManualText = ko.pureComputed(function () {
            var st = self.status();
            if (!st || st.driver !== "camera-streamer" || st.af_manual === null || st.af_manual === undefined) return "";
            return st.af_manual
                ? gettext("libcamera's autofocus is off (AfMode manual) since PiFocus focused: the lens stays where PiFocus put it.")
                : gettext("libcamera's autofocus may be running (hunting) until PiFocus first moves the lens.");
        });

        self.fromDriftAlert = function (data) {
            var text = shared.messageText(data);
            if (data.refocus) text += " " + gettext("A refocus follows at the next layer change.");
            new PNotify({
                title: _.sprintf(gettext("%(device)s: focus drift"), {device: data.device_name || ""}),
                text: _.escape(text),
                type: "notice",
                hide: false
            });
        };

        /** A @PIFOCUS command or the autofocus before a print ended: say how, and what
         * happened to the print when it failed. */
        self.fromAutomation = function (data) {
            var policies = {
                continue: gettext("The print continues."),
                pause: gettext("The print was paused."),
                cancel: gettext("The print was cancelled.")
            };
            var text = [shared.messageText(data), _.has(policies, data.policy) ? policies[data.policy] : ""];
            var command = {command: data.command || "@PIFOCUS"};
            if (data.cancelled) {
                // Cancelled by a user: no failure, the print goes on.
                new PNotify({
                    title: _.sprintf(gettext("%(command)s cancelled"), command),
                    text: _.escape(_.filter([shared.messageText(data), policies["continue"]]).join(" ")),
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

    OCTOPRINT_VIEWMODELS.push({
        construct: PiFocusViewModel,
        name: "piFocusViewModel",
        dependencies: ["loginStateViewModel", "accessViewModel", "settingsViewModel", "piFocusWizardViewModel"],
        elements: ["#sidebar_plugin_pifocus_wrapper"]
    });

});
