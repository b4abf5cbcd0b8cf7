/*
 * Settings > PiFocus: PiFocusSettingsViewModel.
 *
 * The focus devices (list, Add, Duplicate, Rename, Remove), and the form of the chosen one:
 * the lens driver with Detect, Test and Run set-up, the camera, the region of interest drawn
 * on a snapshot, search, printer Z and automation. The form edits a copy of one device
 * (``pf``, its own observables); the list keeps every device's copy until Save, which sends
 * them all as ``devices`` through OctoPrint's settings save.
 *
 * Values are checked live with the plugin's validate_settings command while the dialog is
 * open, and once more when Save is pressed: while the backend would refuse them, Save stops
 * (the dialog stays open on this page, the message next to the field, every edit kept).
 * A save the backend refuses anyway comes back as a "settings_error" plugin message.
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
        camera: {webcam: "", url: "", mode: "auto", settle: 0.25, discard: 0, settle_mode: "auto", keep_open: 30},
        roi: [0.25, 0.25, 0.5, 0.5],
        measure: "tenengrad",
        search: {range: "full", window: 80},
        automation: {
            restore_on_startup: true,
            restore_on_webcam_restart: true,
            autofocus_before_print: false,
            before_print_mode: "refine",
            failure_policy: "continue"
        },
        // The drift watch.
        drift: {watch: "printing", interval: 10, action: "notify", drop: 0.2},
        // Follow focus (issue 11): its settings, next to the focus map in the form
        // (pifocus_followmap.js); a backend without them gets none sent.
        follow: {enabled: false, interval: 0.5, threshold: 0.25, dof_width: null}
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

    /** A setting's group of the form: ``pifocusField: "camera.settle"`` (or a list of
     * paths) marks it as an error and shows the backend's message, with the field's label,
     * under the field, the same way for every setting. */
    ko.bindingHandlers.pifocusField = {
        init: function (element) {
            var controls = $(element).children(".controls").first();
            $('<span class="help-block pifocus-field-error" style="display: none"></span>')
                .appendTo(controls.length ? controls : $(element));
        },
        update: function (element, valueAccessor, allBindings, viewModel, bindingContext) {
            var root = bindingContext.$root;
            var message = "";
            _.each([].concat(ko.unwrap(valueAccessor())), function (path) {
                message = message || (root.fieldError ? root.fieldError(path) : "");
            });
            $(element).toggleClass("error", !!message);
            $(element).find(".pifocus-field-error").first().text(message).toggle(!!message);
        }
    };

    var CUSTOM_URL = "__url__";

    /** The sections of one focus device the form edits (settings.DEVICE_KEYS without the
     * presets and last positions, which only the plugin writes). */
    var SECTIONS = ["driver", "i2c", "v4l2", "camera_streamer", "printer_z", "camera", "roi",
                    "measure", "search", "automation", "follow"];
    SECTIONS.push("drift"); // the drift watch's section
    /** PiFocus's simulated webcams: the first device's, and "<this>_<id>" for the others. */
    var SIMULATED_WEBCAM = "pifocus_simulated";

    /** The visible labels of the settings, for the backend's messages (which name the key);
     * a function: the translations are not there yet when this file loads. */
    function fieldLabels() {
        return {
        "name": gettext("Name"),
        "driver": gettext("Lens driver"),
        "i2c.bus": gettext("I2C bus"),
        "i2c.address": gettext("Address"),
        "i2c.chip": gettext("Driver chip"),
        "v4l2.device": gettext("Device"),
        "camera_streamer.url": gettext("camera-streamer URL"),
        "camera_streamer.device": gettext("Camera device"),
        "camera_streamer.min": gettext("Lens range minimum"),
        "camera_streamer.max": gettext("Lens range maximum"),
        "printer_z.min": gettext("Z window minimum"),
        "printer_z.max": gettext("Z window maximum"),
        "printer_z.feedrate": gettext("Feed rate"),
        "printer_z.backlash": gettext("Backlash overshoot"),
        "printer_z.resolution": gettext("Step"),
        "camera.webcam": gettext("Camera"),
        "camera.url": gettext("URL"),
        "camera.mode": gettext("Frames from"),
        "camera.settle": gettext("Settle time"),
        "camera.settle_mode": gettext("Wait after a move"),
        "camera.discard": gettext("Frames to discard"),
        "camera.keep_open": gettext("Keep the stream open"),
        "roi": gettext("Region of interest"),
        "measure": gettext("Focus measure"),
        "search.range": gettext("Search range"),
        "search.window": gettext("Window"),
        "automation.before_print_mode": gettext("Before a print"),
        "automation.failure_policy": gettext("When an automatic autofocus fails"),
        "drift.watch": gettext("Watch the focus"),
        "drift.interval": gettext("Seconds between looks"),
        "drift.action": gettext("When the focus drifts"),
        "drift.drop": gettext("Drop that counts as a drift")
        };
    }

    /** ``message`` with the setting's key ("camera.settle") replaced by its visible label. */
    function labelled(message, field) {
        message = String(message || "");
        var labels = fieldLabels();
        var keys = _.sortBy(_.keys(labels), function (key) {
            return -key.length; // "printer_z.max" before "max"
        });
        _.each(keys, function (key) {
            if (key.indexOf(".") > 0) {
                message = message.split(key).join(labels[key]);
            } else if (key === field && message.indexOf(key + " ") === 0) {
                // "driver must be one of...": a plain word elsewhere in a sentence stays.
                message = labels[key] + message.slice(key.length);
            }
        });
        return message;
    }

    /** ``data`` (plain settings) into the observables of ``target``, the defaults of
     * ``shape`` for what ``data`` lacks. */
    function loadObservables(target, shape, data) {
        data = _.isPlainObject(data) ? data : {};
        _.each(shape, function (fallback, key) {
            var value = data[key] === undefined ? fallback : data[key];
            if (_.isPlainObject(fallback)) {
                loadObservables(target[key], fallback, value);
            } else if (Array.isArray(fallback)) {
                target[key](Array.isArray(value) ? value.slice() : fallback.slice());
            } else {
                target[key](value);
            }
        });
    }

    /** ``extra`` over a copy of ``base``, one level of sections deep (what the form does not
     * show, such as automation.watchdog_interval, stays). */
    function overlay(base, extra) {
        var out = _.cloneDeep(base || {});
        _.each(extra, function (value, key) {
            out[key] = _.isPlainObject(value) && _.isPlainObject(out[key])
                ? _.extend({}, out[key], _.cloneDeep(value))
                : _.cloneDeep(value);
        });
        return out;
    }

    /** A new device id as settings.generate_id makes them: 8 hex characters, not in ``taken``. */
    function newDeviceId(taken) {
        var id;
        do {
            var bytes = new Uint8Array(4);
            window.crypto.getRandomValues(bytes);
            id = _.map(bytes, function (b) {
                return ("0" + b.toString(16)).slice(-2);
            }).join("");
        } while (_.includes(taken, id));
        return id;
    }

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

        /** settings.plugins.pifocus as OctoPrint received it (set in onBeforeBinding): the
         * set-up wizard reads and saves its top-level sections (the first device). */
        self.server = undefined;

        /** The form: one device's sections as observables (a copy; see the list below). */
        self.pf = {};
        ensureObservables(self.pf, SETTINGS_SHAPE);

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
                "auto": gettext("Automatic: the stream where the camera has one (default)"),
                "snapshot": gettext("Snapshot: one picture per frame"),
                "stream": gettext("Stream: frames from the MJPEG stream")
            },
            settleModes: {
                "auto": gettext("Measured: the camera's delay plus one frame (streams)"),
                "manual": gettext("Fixed: always the settle time below")
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
            },
            driftWatchModes: {
                "printing": gettext("While a print runs"),
                "always": gettext("Always"),
                "off": gettext("Never")
            },
            driftActions: {
                "notify": gettext("Tell me"),
                "refocus": gettext("Refocus at the next layer change"),
                "both": gettext("Tell me and refocus at the next layer change")
            }
        }, function (labels, name) {
            self[name] = choices(labels);
        });
        self.chips = ["dw9714", "dw9807", "dw9817", "ak7375"];

        self.canAdmin = ko.pureComputed(function () {
            var permission = self.access.permissions
                ? self.access.permissions.PLUGIN_PIFOCUS_ADMIN
                : undefined;
            return permission !== undefined && self.loginState.hasPermission(permission);
        });

        // ~~ the focus devices: every device's settings as edited, until Save

        /** [{id, name (observable), data (observable: its settings as last stored from the
         * form), isNew, presetCount}] in the order of the settings. */
        self.deviceList = ko.observableArray([]);
        self.selectedId = ko.observable("");
        /** The devices as received (what Save compares with: unchanged, nothing is sent). */
        var received = [];

        self.selected = ko.pureComputed(function () {
            var id = self.selectedId();
            return _.find(self.deviceList(), function (entry) {
                return entry.id === id;
            });
        });

        function formData() {
            var data = ko.toJS(_.pick(self.pf, SECTIONS));
            var entry = self.selected();
            if (!entry || !_.isPlainObject(entry.data().follow)) delete data.follow;
            return data;
        }

        /** One device's settings as they are now (the form's, for the one it shows). */
        function currentData(entry) {
            return entry.id === self.selectedId() ? overlay(entry.data(), formData()) : entry.data();
        }

        /** Keep what the form shows in its device's entry (before it shows another one). */
        function storeForm() {
            var entry = self.selected();
            if (entry) entry.data(overlay(entry.data(), formData()));
        }

        /** ``devices`` as a save sends them: id, name and the sections (no presets or last
         * positions: the plugin keeps those of known devices itself). */
        self.payload = function () {
            return _.map(self.deviceList(), function (entry) {
                return _.extend({id: entry.id, name: entry.name()}, _.pick(currentData(entry), SECTIONS));
            });
        };

        function entryFrom(device, isNew) {
            return {
                id: device.id,
                name: ko.observable(device.name || ""),
                data: ko.observable(_.omit(_.cloneDeep(device), ["id", "name", "presets", "last_position"])),
                isNew: !!isNew,
                presetCount: Array.isArray(device.presets) ? device.presets.length : 0
            };
        }

        /** The list from the settings as received; the form shows ``keep`` if it still exists. */
        function loadDevices(keep) {
            var devices = self.server && self.server.devices ? ko.toJS(self.server.devices) : [];
            if (!Array.isArray(devices) || !devices.length) {
                // An older backend: one device, the top-level sections.
                devices = [_.extend({id: "camera", name: gettext("Camera")}, ko.toJS(_.pick(self.server || {}, SECTIONS)))];
            }
            self.selectedId("");
            self.deviceList(_.map(devices, function (d) {
                return entryFrom(d, false);
            }));
            received = self.payload();
            var first = self.deviceList()[0];
            var shown = _.find(self.deviceList(), function (entry) {
                return entry.id === keep;
            }) || first;
            self.openDevice(shown);
        }

        /** Show ``entry`` in the form (what the form showed stays in its own entry). */
        self.openDevice = function (entry) {
            if (!entry) return;
            storeForm();
            self.selectedId(entry.id);
            self.customUrl(false);
            loadObservables(self.pf, SETTINGS_SHAPE, entry.data());
            self.found([]);
            self.probed(false);
            self.probeError("");
            self.testResult(null);
            if (self.snapshotUrl && self.settingsShown) self.refreshSnapshot();
        };

        self.dirty = function () {
            return !_.isEqual(self.payload(), received);
        };

        function takenNames(except) {
            return _.map(_.filter(self.deviceList(), function (e) {
                return e !== except;
            }), function (e) {
                return String(e.name()).trim().toLowerCase();
            });
        }

        /** ``base``, or "base 2", "base 3"... not taken by another device (32 characters at most). */
        function uniqueName(base, except) {
            base = String(base || gettext("Camera")).trim().slice(0, 29);
            var taken = takenNames(except);
            if (!_.includes(taken, base.toLowerCase())) return base;
            for (var n = 2; ; n++) {
                var name = base + " " + n;
                if (!_.includes(taken, name.toLowerCase())) return name;
            }
        }

        function addEntry(name, data) {
            var id = newDeviceId(_.map(self.deviceList(), "id"));
            var entry = entryFrom(_.extend({id: id, name: uniqueName(name)}, data || {}), true);
            self.deviceList.push(entry);
            self.openDevice(entry);
            return entry;
        }

        self.canAddDevice = ko.pureComputed(function () {
            return self.canAdmin() && self.deviceList().length < 16;
        });

        /** Add: a device with the default settings (no lens driver yet). */
        self.addDevice = function () {
            if (!self.canAddDevice()) return;
            addEntry(gettext("Camera"), {});
            self.focusName();
        };

        /** Duplicate: the same lens, camera and focus settings; no presets, last positions or
         * results (those belong to the lens they were taken with). */
        self.duplicateDevice = function (entry) {
            if (!self.canAddDevice()) return;
            storeForm();
            addEntry(_.sprintf(gettext("%(name)s copy"), {name: entry.name()}), _.cloneDeep(entry.data()));
            self.focusName();
        };

        /** Rename: the name field of the form, for this device. */
        self.renameDevice = function (entry) {
            self.openDevice(entry);
            self.focusName();
        };

        self.focusName = function () {
            _.defer(function () {
                $("#pifocus-device-name").focus().select();
            });
        };

        self.removeDevice = function (entry) {
            if (!self.canAdmin() || self.deviceList().length <= 1) return;
            var message = entry.presetCount
                ? _.sprintf(gettext("The focus device %(name)s and its %(count)d presets will be removed when you save the settings. Its lens and camera stay as they are."),
                            {name: _.escape(entry.name()), count: entry.presetCount})
                : _.sprintf(gettext("The focus device %(name)s will be removed when you save the settings. Its lens and camera stay as they are."),
                            {name: _.escape(entry.name())});
            // (The dialog shows the message as HTML: the name is escaped.)
            showConfirmationDialog({
                dialogClass: "pifocus-remove-device-dialog",
                title: gettext("Remove this focus device?"),
                message: message,
                question: gettext("Remove it?"),
                proceed: gettext("Remove"),
                onproceed: function () {
                    var wasShown = entry.id === self.selectedId();
                    if (wasShown) self.selectedId(""); // its form data goes with it
                    self.deviceList.remove(entry);
                    if (wasShown) self.openDevice(self.deviceList()[0]);
                }
            });
        };

        self.removeTitle = ko.pureComputed(function () {
            return self.deviceList().length <= 1
                ? gettext("The last focus device cannot be removed: PiFocus needs one. Set its lens driver to None instead.")
                : gettext("Remove this focus device (asks first)");
        });

        /** The name of the device in the form. */
        self.deviceName = ko.pureComputed({
            read: function () {
                var entry = self.selected();
                return entry ? entry.name() : "";
            },
            write: function (value) {
                var entry = self.selected();
                if (entry) entry.name(String(value || ""));
            }
        });

        /** What the list says about a device: its driver and camera, and a webcam gone. */
        self.driverText = function (entry) {
            var driver = currentData(entry).driver || "";
            var option = _.find(self.drivers, {value: driver});
            return option ? option.label : driver;
        };

        self.cameraText = function (entry) {
            var camera = currentData(entry).camera || {};
            if (camera.url) return shared.maskUrl ? shared.maskUrl(camera.url) : gettext("a camera URL");
            if (!camera.webcam) return gettext("OctoPrint's snapshot webcam");
            var webcam = _.find(self.webcams(), {value: camera.webcam});
            return webcam ? webcam.label : camera.webcam;
        };

        /** The webcam ``entry`` names that OctoPrint does not list, or "". A new device's own
         * simulated webcam appears once the device is saved. */
        self.missingWebcam = function (entry) {
            if (!entry) return "";
            var camera = currentData(entry).camera || {};
            var name = camera.webcam;
            if (!name || camera.url) return "";
            if (entry.isNew && name === SIMULATED_WEBCAM + "_" + entry.id) return "";
            return _.find(self.webcams(), {value: name}) ? "" : name;
        };

        self.missingText = function (name) {
            return _.sprintf(gettext("The webcam %(name)s is gone from OctoPrint; choose another camera (its name is kept until you do)."),
                             {name: name});
        };

        self.setupAllowed = ko.pureComputed(function () {
            var entry = self.selected();
            var first = self.deviceList()[0];
            return self.canAdmin() && !!entry && entry === first && !entry.isNew && !self.dirty();
        });

        /** Run set-up: the set-up dialog over the settings (the first device, saved); what it
         * saves, the form shows. */
        self.runSetup = function () {
            if (self.wizard && self.setupAllowed()) self.wizard.open();
        };

        // ~~ field errors: the backend's rules, the message next to the field

        /** A refused save (settings_error push): the message, shown above the form. */
        self.settingsError = ko.observable("");
        /** What the backend would refuse in the settings as edited ({field, device, message}),
         * from the API command validate_settings while the dialog is open. */
        self.validation = ko.observable(null);

        function problemFrom(body) {
            body = body || {};
            var field = body.field || "";
            var prefix = "";
            var entry = _.find(self.deviceList(), {id: body.device});
            var message = String(body.error || body.message || gettext("The settings were not saved."));
            if (entry && message.indexOf(entry.name() + ": ") === 0) {
                prefix = entry.name() + ": ";
                message = message.slice(prefix.length);
            }
            message = labelled(message, field);
            return {field: field, device: body.device || null, message: message, text: prefix + message};
        }

        /** The message for the setting ``path`` ("printer_z.min") of the device in the form. */
        self.fieldError = function (path) {
            var problem = self.validation();
            if (!problem || !problem.field) return "";
            if (problem.device && problem.device !== self.selectedId()) return "";
            var field = String(problem.field);
            return field === path || field.indexOf(path + ".") === 0 ? problem.message : "";
        };

        self.deviceProblem = function (entry) {
            var problem = self.validation();
            return problem && problem.device === entry.id ? problem.text : "";
        };

        // ~~ driver, Detect, Test

        self.driver = ko.pureComputed(function () {
            return self.pf.driver();
        });

        /** The unit of the search window: the lens's (printer Z: mm). */
        self.windowUnits = ko.pureComputed(function () {
            return {
                "printer-z": gettext("mm of printer Z either side of the current position"),
                "camera-streamer": gettext("dioptres either side of the current position"),
                "": gettext("lens units either side of the current position")
            }[self.driver()] || gettext("lens steps (VCM codes) either side of the current position");
        });

        self.probing = ko.observable(false);
        self.found = ko.observableArray([]);
        self.probeChoices = [];
        self.probeError = ko.observable("");
        self.probed = ko.observable(false);

        /** The device the form shows, for the API (a new one is not known there yet). */
        function apiDevice() {
            var entry = self.selected();
            return entry && !entry.isNew ? entry.id : undefined;
        }

        self.detect = function () {
            if (!self.canAdmin() || self.probing()) return;
            self.probing(true);
            self.probeError("");
            OctoPrint.simpleApiCommand(PLUGIN, "probe", {driver: self.pf.driver(), device: apiDevice()})
                .done(function (response) {
                    var found = response && Array.isArray(response.devices) ? response.devices : [];
                    self.probeChoices = response && Array.isArray(response.choices) ? response.choices : [];
                    self.found(found);
                    self.probed(true);
                    var usable = _.filter(found, function (d) {
                        return d && d.found;
                    });
                    if (usable.length === 1) self.useDevice(usable[0]);
                })
                .fail(function (xhr) {
                    self.found([]);
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
            if (!device) return;
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

        /** Add this device: a new focus device with what Detect found (and its webcam, when
         * Detect knows it), opened in the form. */
        self.addFoundDevice = function (device) {
            if (!device || !self.canAddDevice()) return;
            var names = {
                "simulated": gettext("Simulated camera"),
                "i2c": gettext("I2C lens"),
                "v4l2": gettext("USB webcam"),
                "camera-streamer": gettext("Pi camera"),
                "printer-z": gettext("Microscope")
            };
            var source = self.pf;
            var keep = _.pick(ko.toJS(source), ["i2c", "v4l2", "camera_streamer", "printer_z"]);
            var choice = _.find(self.probeChoices, function (c) {
                return c && c.found && c.driver === device.driver;
            });
            var entry = addEntry(names[device.driver] || gettext("Camera"), _.extend(keep, {driver: device.driver}));
            self.useDevice(device);
            var webcam = choice && choice.webcam;
            if (webcam === SIMULATED_WEBCAM) webcam = SIMULATED_WEBCAM + "_" + entry.id; // each device its own
            if (webcam) {
                self.pf.camera.webcam(webcam);
                self.pf.camera.url("");
            }
            self.focusName();
        };

        shared.addLensTest(self, self.canAdmin, apiDevice);

        // ~~ I2C address in hex

        self.i2cAddress = ko.pureComputed({
            read: function () {
                var value = self.pf.i2c.address();
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
            // Webcams the devices name that OctoPrint no longer lists stay choices (marked),
            // so that the select never replaces a stored name by the first webcam.
            var gone = _.uniq(_.compact(_.map(self.deviceList(), self.missingWebcam)));
            var own = _.compact(_.map(self.deviceList(), function (entry) {
                var webcam = (currentData(entry).camera || {}).webcam;
                return entry.isNew && webcam === SIMULATED_WEBCAM + "_" + entry.id ? webcam : "";
            }));
            return [{value: "", label: gettext("OctoPrint's snapshot webcam")}]
                .concat(self.webcams())
                .concat(_.map(own, function (name) {
                    return {value: name, label: gettext("PiFocus simulated camera (after Save)")};
                }))
                .concat(_.map(gone, function (name) {
                    return {value: name, label: _.sprintf(gettext("%(name)s (gone from OctoPrint)"), {name: name})};
                }))
                .concat([{value: CUSTOM_URL, label: gettext("Another camera, by URL")}]);
        });
        self.customUrl = ko.observable(false);
        self.cameraSource = ko.pureComputed({
            read: function () {
                if (self.customUrl() || self.pf.camera.url()) return CUSTOM_URL;
                return self.pf.camera.webcam() || "";
            },
            write: function (value) {
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
            return self.pf.roi;
        });
        /** The snapshot is the saved device's camera (a new device has none yet: the first's). */
        self.snapshotDevice = apiDevice;

        // ~~ OctoPrint's callbacks

        self.onBeforeBinding = function () {
            var settings = self.settingsViewModel.settings;
            if (!settings.plugins) settings.plugins = {};
            if (!settings.plugins.pifocus) settings.plugins.pifocus = {};
            ensureObservables(settings.plugins.pifocus, SETTINGS_SHAPE);
            self.server = settings.plugins.pifocus;
            // Results of Detect and Test are about the driver they were run for.
            self.pf.driver.subscribe(function () {
                self.found([]);
                self.probed(false);
                self.probeError("");
                self.testResult(null);
            });
            guardSave();
        };

        // ~~ validation while editing: the backend's own rules (API command validate_settings)

        var validating = undefined;
        var validationRequest = 0;

        /** Ask the backend about ``devices``; resolves when they would be saved, rejects with
         * the problem; "no verdict" (older backend, no connection) resolves too. */
        function check(devices) {
            var deferred = $.Deferred();
            if (!self.canAdmin()) return deferred.resolve().promise();
            OctoPrint.simpleApiCommand(PLUGIN, "validate_settings", {settings: {devices: devices}})
                .done(function () {
                    deferred.resolve();
                })
                .fail(function (xhr) {
                    if (xhr && xhr.status === 400) {
                        deferred.reject(problemFrom(_.extend({error: errorText(xhr)}, xhr.responseJSON || {})));
                    } else {
                        deferred.resolve();
                    }
                });
            return deferred.promise();
        }

        self.validate = function (devices) {
            var request = ++validationRequest;
            check(devices)
                .done(function () {
                    if (request === validationRequest) self.validation(null);
                })
                .fail(function (problem) {
                    if (request === validationRequest) self.validation(problem);
                });
        };

        function startValidating() {
            if (validating) return;
            validating = ko.pureComputed(self.payload).extend({rateLimit: 400});
            validating.subscribe(self.validate);
        }

        function stopValidating() {
            if (validating) validating.dispose();
            validating = undefined;
            validationRequest++;
            self.validation(null);
        }

        /** Show ``problem`` where its setting is: its device in the form, this page. */
        function showProblem(problem) {
            self.validation(problem);
            var entry = _.find(self.deviceList(), {id: problem.device});
            if (entry && entry.id !== self.selectedId()) self.openDevice(entry);
            self.validation(problem);
            self.settingsViewModel.selectTab("#settings_plugin_pifocus");
            _.defer(function () {
                var field = $("#settings_plugin_pifocus .control-group.error").first();
                if (field.length) field[0].scrollIntoView({block: "center"});
            });
        }

        /** Save in the settings dialog: PiFocus's devices go as ``devices``, after one more
         * check; while the backend would refuse them the save stops (nothing is sent, the
         * dialog stays open on this page with the message next to the field). */
        function guardSave() {
            var settingsViewModel = self.settingsViewModel;
            var original = settingsViewModel.saveData;
            if (!original || original.pifocusGuarded) return;
            var guarded = function (data, successCallback, setAsSending) {
                if (data !== undefined || !self.settingsShown) {
                    return original.apply(settingsViewModel, arguments);
                }
                var options = _.isPlainObject(successCallback)
                    ? successCallback
                    : {success: successCallback, sending: setAsSending === true};
                var deferred = $.Deferred();
                var devices = self.payload();
                var changed = !_.isEqual(devices, received);
                var send = function () {
                    var local = getOnlyChangedData(settingsViewModel.getLocalData(),
                                                   settingsViewModel.lastReceivedSettings);
                    var plugins = local.plugins || {};
                    // The top-level sections (the first device) are not the form's any more.
                    var pifocus = _.omit(plugins.pifocus || {}, SECTIONS.concat(["devices", "presets", "last_position"]));
                    if (changed) {
                        pifocus.devices = devices;
                        // Devices another browser added since this dialog loaded stay.
                        pifocus.devices_known = _.pluck(received, "id");
                    }
                    if (_.isEmpty(pifocus)) {
                        delete plugins.pifocus;
                    } else {
                        plugins.pifocus = pifocus;
                        local.plugins = plugins;
                    }
                    original.call(settingsViewModel, local, _.extend({}, options, {sending: true}))
                        .done(function () {
                            // The sidebar's device selector follows at once (OctoPrint's
                            // SettingsUpdated event tells it too, but may come late).
                            var sidebar = OctoPrint.coreui.viewmodels
                                ? OctoPrint.coreui.viewmodels.piFocusViewModel
                                : undefined;
                            if (changed && sidebar && sidebar.requestStatus) sidebar.requestStatus();
                            deferred.resolve.apply(deferred, arguments);
                        })
                        .fail(deferred.reject);
                };
                if (!changed) {
                    send();
                } else {
                    settingsViewModel.sending(true);
                    check(devices)
                        .done(send)
                        .fail(function (problem) {
                            settingsViewModel.sending(false);
                            showProblem(problem);
                            deferred.reject(problem);
                        });
                }
                return deferred.promise();
            };
            guarded.pifocusGuarded = true;
            settingsViewModel.saveData = guarded;
        }

        self.settingsShown = false;

        self.onSettingsShown = function () {
            self.settingsShown = true;
            self.settingsError("");
            loadDevices(shared.takeAskedDevice() || self.selectedId());
            self.refreshSnapshot();
            startValidating();
        };

        self.onSettingsHidden = function () {
            self.settingsShown = false;
            stopValidating();
            var old = self.snapshotUrl();
            self.snapshotUrl("");
            if (old) URL.revokeObjectURL(old);
        };

        self.onSettingsBeforeSave = function () {
            self.settingsError("");
        };

        /** Settings saved elsewhere (the set-up wizard, another browser) while the dialog is
         * open: the list follows unless it has edits of its own. */
        self.onEventSettingsUpdated = function () {
            _.defer(function () {
                if (self.settingsShown && !self.dirty()) loadDevices(self.selectedId());
            });
        };

        self.onDataUpdaterPluginMessage = function (plugin, data) {
            if (plugin !== PLUGIN || !data || data.type !== "settings_error") return;
            var problem = problemFrom({error: shared.messageText(data), field: data.field, device: data.device});
            self.settingsError(problem.text);
            if (data.field) self.validation(problem);
            // With the dialog closed the page is not there to show it.
            if (!self.settingsShown && self.loginState.hasPermission(self.access.permissions.SETTINGS)) {
                notifyError(gettext("PiFocus settings refused"), problem.text);
            }
        };

        // The focus map's calibration and follow mode: pifocus_followmap.js (wraps the
        // handlers above, so it comes last).
        window.PiFocusFollowMap.addFollowMap(self);
    }

    OCTOPRINT_VIEWMODELS.push({
        construct: PiFocusSettingsViewModel,
        name: "piFocusSettingsViewModel",
        dependencies: ["settingsViewModel", "loginStateViewModel", "accessViewModel", "piFocusWizardViewModel"],
        elements: ["#settings_plugin_pifocus"]
    });
});
