/*
 * The PiFocus set-up (templates/pifocus_setup.jinja2): Detect and pick a lens and a webcam,
 * drag the focus region on a snapshot, Test, and a first autofocus with its live curve.
 *
 * One view model, bound to both copies of the steps: the page of OctoPrint's wizard dialog
 * (#wizard_plugin_pifocus, only there while the wizard is required, see plugin/wizard.py)
 * and the PiFocus set-up dialog (#pifocus_setup_dialog), which the sidebar and Settings >
 * PiFocus open with open().
 *
 * Choices are saved through OctoPrint's settings API (settingsViewModel.saveData), so the
 * plugin's checks apply; the same check is asked first (validate_settings) to show a refusal
 * with its reason. A refused save keeps the choices on screen with the message.
 */
$(function () {
    "use strict";

    var shared = window.PiFocusShared;
    var PLUGIN = shared.PLUGIN;
    var isNumber = shared.isNumber;
    var errorText = shared.errorText;
    var DEFAULT_ROI = [0.25, 0.25, 0.5, 0.5];
    /** The camera choice "the camera URL in the settings" (no OctoPrint webcam has this name). */
    var URL_CHOICE = "pifocus:camera-url";

    function finite(text) {
        return String(text).trim() !== "" && isFinite(Number(text));
    }

    function PiFocusWizardViewModel(parameters) {
        var self = this;

        self.settingsViewModel = parameters[0];
        self.loginState = parameters[1];
        self.access = parameters[2];

        self.stepNames = [
            gettext("Lens and camera"),
            gettext("Focus region"),
            gettext("Test"),
            gettext("First autofocus")
        ];
        self.step = ko.observable(0);
        /** Open as the PiFocus set-up dialog (not as a page of OctoPrint's wizard). */
        self.inDialog = ko.observable(false);

        // ~~ the settings as stored (OctoPrint's settings view model)

        function stored() {
            var settings = self.settingsViewModel.settings;
            var pifocus = settings && settings.plugins ? settings.plugins.pifocus : undefined;
            return pifocus ? ko.toJS(pifocus) : {};
        }

        // ~~ step 1: Detect, the lens and the webcam

        self.detecting = ko.observable(false);
        self.detected = ko.observable(false);
        self.detectError = ko.observable("");
        self.choices = ko.observableArray([]);
        self.chosen = ko.observable(null);
        self.usableChoices = ko.pureComputed(function () {
            return _.filter(self.choices(), function (c) {
                return c.found;
            });
        });

        self.detect = function () {
            if (self.detecting()) return;
            self.detecting(true);
            self.detectError("");
            OctoPrint.simpleApiCommand(PLUGIN, "probe", {})
                .done(function (response) {
                    var choices = response && Array.isArray(response.choices) ? response.choices : [];
                    self.choices(choices);
                    self.detected(true);
                    // Keep a choice of the same driver; else the only usable one, or the current driver.
                    var current = self.chosen();
                    var usable = self.usableChoices();
                    var keep = current
                        ? _.find(usable, function (c) {
                              return c.driver === current.driver;
                          })
                        : undefined;
                    if (!keep && usable.length === 1) keep = usable[0];
                    if (!keep) {
                        var driver = stored().driver;
                        keep = _.find(usable, function (c) {
                            return driver && c.driver === driver;
                        });
                    }
                    self.chosen(keep || null);
                })
                .fail(function (xhr) {
                    self.choices([]);
                    self.chosen(null);
                    self.detectError(errorText(xhr));
                })
                .always(function () {
                    self.detecting(false);
                });
        };

        // ~~ printer Z: the window Test and autofocus move in, shown and confirmed before saving

        self.zMin = ko.observable("");
        self.zMax = ko.observable("");
        self.zCurrent = ko.observable(null);
        self.zConfirmed = ko.observable(false);
        /** Whether the chosen lens needs its Z window confirmed (printer Z). */
        self.zNeeded = ko.pureComputed(function () {
            var choice = self.chosen();
            return !!(choice && choice.confirm);
        });
        self.zCurrentText = ko.pureComputed(function () {
            var z = self.zCurrent();
            return isNumber(z) ? _.sprintf(gettext("The printer reports Z at %(z)s mm now."), {z: z}) : "";
        });
        self.zReady = ko.pureComputed(function () {
            return !self.zNeeded() || (self.zConfirmed() && finite(self.zMin()) && finite(self.zMax()));
        });
        self.chosen.subscribe(function (choice) {
            var window = choice && choice.confirm ? choice.z_window || {} : null;
            if (window) {
                self.zMin(isNumber(window.min) ? String(window.min) : "");
                self.zMax(isNumber(window.max) ? String(window.max) : "");
                self.zCurrent(isNumber(window.current) ? window.current : null);
            }
            self.zConfirmed(false);
        });
        // A changed window is not the one confirmed.
        self.zMin.subscribe(function () {
            self.zConfirmed(false);
        });
        self.zMax.subscribe(function () {
            self.zConfirmed(false);
        });

        // ~~ the camera: an OctoPrint webcam, or the camera URL already in the settings

        self.webcam = ko.observable("");
        /** camera.url as stored (only administrators get it from OctoPrint's settings API). */
        self.cameraUrl = ko.observable("");
        self.webcamChoices = ko.pureComputed(function () {
            var url = self.cameraUrl();
            var own = url
                ? [{value: URL_CHOICE, label: _.sprintf(gettext("%(url)s (the camera URL in the settings)"), {
                      url: shared.maskUrl(url)
                  })}]
                : [];
            return own.concat(
                [{value: "", label: gettext("OctoPrint's snapshot webcam")}],
                shared.webcamChoices(self.settingsViewModel)
            );
        });
        // The simulated lens blurs the simulated webcam: pick it with the lens (unless the
        // camera URL is chosen: replacing it is for the user to decide).
        self.chosen.subscribe(function (choice) {
            if (choice && choice.webcam && self.webcam() !== URL_CHOICE) {
                var known = _.find(self.webcamChoices(), function (w) {
                    return w.value === choice.webcam;
                });
                if (known) self.webcam(choice.webcam);
            }
        });

        // ~~ saving through the settings API

        self.saving = ko.observable(false);
        self.saveError = ko.observable("");
        var pushedError = "";

        /** Save ``patch`` (PiFocus settings); resolves when saved, rejects with the message. */
        self.save = function (patch) {
            var deferred = $.Deferred();
            self.saving(true);
            self.saveError("");
            pushedError = "";
            OctoPrint.simpleApiCommand(PLUGIN, "validate_settings", {settings: patch})
                .done(function () {
                    self.settingsViewModel.saveData(
                        {plugins: {pifocus: patch}},
                        {
                            success: function (response) {
                                var saved =
                                    response && response.plugins ? response.plugins.pifocus : undefined;
                                if (saved && sameAs(saved, patch)) {
                                    deferred.resolve(saved);
                                } else {
                                    deferred.reject(
                                        pushedError || gettext("The settings were not saved.")
                                    );
                                }
                            },
                            error: function (xhr) {
                                deferred.reject(errorText(xhr));
                            }
                        }
                    );
                })
                .fail(function (xhr) {
                    // validate_settings names the setting: say which one, to find it in the settings.
                    var field = xhr && xhr.responseJSON ? xhr.responseJSON.field : "";
                    var message = errorText(xhr);
                    if (field && message.indexOf(field) < 0) message += " (" + field + ")";
                    deferred.reject(message);
                });
            return deferred
                .fail(function (message) {
                    self.saveError(message);
                })
                .always(function () {
                    self.saving(false);
                });
        };

        /** Whether the settings the API answered with hold what was sent. */
        function sameAs(saved, patch) {
            return _.every(_.keys(patch), function (key) {
                var want = patch[key];
                var have = saved[key];
                if (_.isPlainObject(want)) {
                    return _.isPlainObject(have) && sameAs(have, want);
                }
                if (Array.isArray(want)) {
                    return (
                        Array.isArray(have) &&
                        have.length === want.length &&
                        _.every(want, function (v, i) {
                            return Math.abs(Number(have[i]) - Number(v)) < 1e-6;
                        })
                    );
                }
                return String(have) === String(want);
            });
        }

        self.saveLens = function () {
            var choice = self.chosen();
            if (!choice || !choice.settings || self.saving()) return;
            if (!self.zReady()) return;
            var patch = $.extend(true, {}, choice.settings);
            if (choice.confirm) {
                patch.printer_z = {min: Number(self.zMin()), max: Number(self.zMax())};
            }
            // The camera URL in the settings stays unless an OctoPrint webcam is picked instead.
            if (self.webcam() !== URL_CHOICE) patch.camera = {webcam: self.webcam() || "", url: ""};
            self.save(patch).done(function () {
                self.goTo(1);
            });
        };

        // ~~ step 2: the focus region on a snapshot (the settings page's editor)

        self.roi = ko.observableArray(DEFAULT_ROI.slice());
        shared.addRoiEditor(self, function () {
            return self.roi;
        });

        /** The message for a setting's path, for the ROI editor's template. */
        self.fieldError = function (path) {
            return path === "roi" && self.saveError() && self.step() === 1 ? self.saveError() : "";
        };

        self.saveRoi = function () {
            if (self.saving()) return;
            self.save({roi: self.roi().slice()}).done(function () {
                self.goTo(2);
            });
        };

        // ~~ step 3: Test

        shared.addLensTest(self);

        // ~~ step 4: the first autofocus, drawn as the sidebar draws it

        self.status = ko.observable(undefined);
        self.limits = ko.pureComputed(function () {
            return shared.statusLimits(self.status());
        });
        self.decimals = ko.pureComputed(function () {
            var st = self.status();
            return shared.decimalsFor(st && isNumber(st.resolution) ? st.resolution : null);
        });
        self.units = ko.pureComputed(function () {
            var st = self.status();
            return shared.unitsLabel(st && st.units);
        });
        shared.addRunView(self);

        self.fromStatus = function (st) {
            // The first focus device is the one shown (the status GET lists them all); pushes
            // of the other devices carry their own "device" and are not this one's.
            if (st && st.devices && st.devices.length) self.shownDevice = st.devices[0].device;
            if (!st || typeof st !== "object") return;
            self.status(st);
            self.runFromStatus(st);
        };

        self.requestStatus = function () {
            OctoPrint.simpleApiGet(PLUGIN).done(self.fromStatus);
        };

        self.starting = ko.observable(false);
        self.autofocusError = ko.observable("");
        self.autofocus = function () {
            if (self.busy() || self.starting()) return;
            self.starting(true);
            self.autofocusError("");
            self.lastResult(null);
            self.curve([]);
            OctoPrint.simpleApiCommand(PLUGIN, "autofocus", {})
                .done(self.fromStatus)
                .fail(function (xhr) {
                    self.autofocusError(errorText(xhr));
                })
                .always(function () {
                    self.starting(false);
                });
        };

        // ~~ moving between the steps

        self.goTo = function (step) {
            self.saveError("");
            self.step(step);
            if (step === 1) self.refreshSnapshot();
            if (step === 2) self.testResult(null);
            if (step === 3) self.requestStatus();
        };
        self.back = function () {
            if (self.step() > 0) self.goTo(self.step() - 1);
        };
        self.next = function () {
            if (self.step() < self.stepNames.length - 1) self.goTo(self.step() + 1);
        };

        /** From the first step, with what is stored now. */
        self.start = function () {
            var current = stored();
            self.roi(shared.validRoi(current.roi) ? current.roi.slice() : DEFAULT_ROI.slice());
            var camera = current.camera || {};
            self.cameraUrl(camera.url ? String(camera.url) : "");
            self.webcam(camera.url ? URL_CHOICE : camera.webcam || "");
            self.saveError("");
            self.testResult(null);
            self.autofocusError("");
            self.step(0);
            self.detect();
        };

        // ~~ the PiFocus set-up dialog

        var dialog = undefined;

        self.open = function () {
            if (!dialog || !dialog.length) return;
            self.inDialog(true);
            self.start();
            dialog.modal("show");
        };
        self.close = function () {
            if (dialog && dialog.length) dialog.modal("hide");
        };

        self.onStartup = function () {
            dialog = $("#pifocus_setup_dialog");
            dialog.on("hidden", function (event) {
                if (event.target !== dialog[0]) return; // a tooltip or nested modal
                self.inDialog(false);
                var old = self.snapshotUrl();
                self.snapshotUrl("");
                if (old) URL.revokeObjectURL(old);
            });
        };

        // ~~ OctoPrint's wizard dialog

        self.onAfterWizardTabChange = function (current) {
            // The first call names the tab as a selector ("#wizard_plugin_pifocus"), later ones by id.
            if (String(current).replace(/^#/, "") === "wizard_plugin_pifocus" && !self.detected()) {
                self.inDialog(false);
                self.start();
            }
        };

        // ~~ pushed messages: the run, refused saves

        self.onDataUpdaterPluginMessage = function (plugin, data) {
            if (plugin !== PLUGIN || !data || typeof data !== "object") return;
            if (data.type === "settings_error") {
                pushedError = shared.messageText(data);
                return;
            }
            if (data.device && self.shownDevice && data.device !== self.shownDevice) return;
            if (self.step() !== 3) return;
            if (data.type === "status") self.fromStatus(data.status);
            else if (data.type === "progress") self.fromProgress(data);
            else if (data.type === "result") self.fromResult(data.result);
        };
    }

    OCTOPRINT_VIEWMODELS.push({
        construct: PiFocusWizardViewModel,
        name: "piFocusWizardViewModel",
        dependencies: ["settingsViewModel", "loginStateViewModel", "accessViewModel"],
        elements: ["#wizard_plugin_pifocus", "#pifocus_setup_dialog"]
    });
});
