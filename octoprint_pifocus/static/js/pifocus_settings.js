/*
 * Settings > PiFocus: PiFocusSettingsViewModel.
 *
 * The lens driver with Detect, Test and Run set-up, the camera, the region of interest drawn
 * on a snapshot, search, printer Z and automation. Values are checked live with the plugin's
 * validate_settings command while the dialog is open; a save the backend refuses comes back
 * as a "settings_error" plugin message.
 *
 * Its neighbours: pifocus_sidebar.js (the sidebar), pifocus_wizard.js (the set-up),
 * pifocus_chart.js and pifocus_shared.js.
 */
$(function () {
    "use strict";

    var PLUGIN = "pifocus";

    // ~~ helpers, the run view and the ROI editor: pifocus_shared.js (the curve: pifocus_chart.js)

    var shared = window.PiFocusShared;
    var isNumber = shared.isNumber;
    var toNumber = shared.toNumber;
    var errorText = shared.errorText;
    var notifyError = shared.notifyError;
    var unitsLabel = shared.unitsLabel;

    // ~~ settings

    /** The settings of docs/plugin-contract.md, for keys an older backend (or a restricted
     * view) does not send: the bindings of the settings page must find every observable. */
    var SETTINGS_SHAPE = {
        driver: "",
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
        self.wizard = parameters[3]; // the set-up (pifocus_wizard.js)

        /** Run set-up: the set-up dialog over the settings; what it saves, the form shows. */
        self.runSetup = function () {
            if (self.wizard && self.canAdmin()) self.wizard.open();
        };

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

        shared.addLensTest(self, self.canAdmin);

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
            return shared.webcamChoices(self.settingsViewModel);
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

        // ~~ the region of interest, dragged on a snapshot (shared with the set-up wizard)

        shared.addRoiEditor(self, function () {
            return self.pf ? self.pf.roi : null;
        });


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
        construct: PiFocusSettingsViewModel,
        name: "piFocusSettingsViewModel",
        dependencies: ["settingsViewModel", "loginStateViewModel", "accessViewModel", "piFocusWizardViewModel"],
        elements: ["#settings_plugin_pifocus"]
    });
});
