CREATE TABLE experiments (
	experiment_id INTEGER NOT NULL, 
	name VARCHAR(500) NOT NULL, 
	artifact_location VARCHAR(2000) NOT NULL, 
	lifecycle_stage VARCHAR(20) NOT NULL, 
	creation_time BIGINT, 
	last_update_time BIGINT, 
	CONSTRAINT pk_experiments PRIMARY KEY (experiment_id), 
	CONSTRAINT uq_experiments_name UNIQUE (name)
);
CREATE INDEX ix_experiments_lifecycle_stage_last_update_time ON experiments (lifecycle_stage, last_update_time);
CREATE TABLE applied_requests (
	request_id VARCHAR(64) NOT NULL, 
	created_time BIGINT NOT NULL, 
	CONSTRAINT pk_applied_requests PRIMARY KEY (request_id)
);
CREATE INDEX ix_applied_requests_created_time ON applied_requests (created_time);
CREATE TABLE registered_models (
	id INTEGER NOT NULL, 
	name VARCHAR(256) NOT NULL, 
	description TEXT, 
	user_id VARCHAR(256), 
	creation_time BIGINT NOT NULL, 
	last_updated_time BIGINT NOT NULL, 
	last_version INTEGER NOT NULL, 
	CONSTRAINT pk_registered_models PRIMARY KEY (id), 
	CONSTRAINT uq_registered_models_name UNIQUE (name)
);
CREATE TABLE registry_events (
	id INTEGER NOT NULL, 
	timestamp BIGINT NOT NULL, 
	user_id VARCHAR(256) NOT NULL, 
	action VARCHAR(40) NOT NULL, 
	model_name VARCHAR(256) NOT NULL, 
	version INTEGER, 
	from_value TEXT, 
	to_value TEXT, 
	details TEXT, 
	CONSTRAINT pk_registry_events PRIMARY KEY (id)
);
CREATE INDEX ix_registry_events_action_timestamp ON registry_events (action, timestamp);
CREATE INDEX ix_registry_events_timestamp ON registry_events (timestamp);
CREATE INDEX ix_registry_events_model_name_timestamp ON registry_events (model_name, timestamp);
CREATE TABLE webhooks (
	id VARCHAR(36) NOT NULL, 
	name VARCHAR(256) NOT NULL, 
	description TEXT, 
	url VARCHAR(2000) NOT NULL, 
	events TEXT NOT NULL, 
	status VARCHAR(20) NOT NULL, 
	secret TEXT, 
	creation_time BIGINT NOT NULL, 
	last_updated_time BIGINT NOT NULL, 
	CONSTRAINT pk_webhooks PRIMARY KEY (id)
);
CREATE INDEX ix_webhooks_creation_time ON webhooks (creation_time);
CREATE TABLE webhook_deliveries (
	webhook_id VARCHAR(36) NOT NULL, 
	event_id BIGINT NOT NULL, 
	claimed_time BIGINT NOT NULL, 
	CONSTRAINT pk_webhook_deliveries PRIMARY KEY (webhook_id, event_id)
);
CREATE INDEX ix_webhook_deliveries_claimed_time ON webhook_deliveries (claimed_time);
CREATE TABLE experiment_tags (
	experiment_id INTEGER NOT NULL, 
	"key" VARCHAR(250) NOT NULL, 
	value TEXT NOT NULL, 
	CONSTRAINT pk_experiment_tags PRIMARY KEY (experiment_id, "key"), 
	CONSTRAINT fk_experiment_tags_experiment_id_experiments FOREIGN KEY(experiment_id) REFERENCES experiments (experiment_id) ON DELETE CASCADE
);
CREATE TABLE runs (
	id INTEGER NOT NULL, 
	run_uuid VARCHAR(32) NOT NULL, 
	experiment_id INTEGER NOT NULL, 
	name VARCHAR(250) NOT NULL, 
	user_id VARCHAR(256) NOT NULL, 
	status VARCHAR(20) NOT NULL, 
	start_time BIGINT, 
	end_time BIGINT, 
	lifecycle_stage VARCHAR(20) NOT NULL, 
	artifact_uri VARCHAR(2000) NOT NULL, 
	parent_run_uuid VARCHAR(32), 
	deleted_time BIGINT, 
	CONSTRAINT pk_runs PRIMARY KEY (id), 
	CONSTRAINT uq_runs_run_uuid UNIQUE (run_uuid), 
	CONSTRAINT fk_runs_experiment_id_experiments FOREIGN KEY(experiment_id) REFERENCES experiments (experiment_id) ON DELETE CASCADE
);
CREATE INDEX ix_runs_experiment_id_lifecycle_stage_start_time ON runs (experiment_id, lifecycle_stage, start_time);
CREATE INDEX ix_runs_parent_run_uuid ON runs (parent_run_uuid);
CREATE TABLE datasets (
	id INTEGER NOT NULL, 
	experiment_id INTEGER NOT NULL, 
	name VARCHAR(500) NOT NULL, 
	digest VARCHAR(36) NOT NULL, 
	source_type VARCHAR(36) NOT NULL, 
	source TEXT NOT NULL, 
	schema TEXT, 
	profile TEXT, 
	CONSTRAINT pk_datasets PRIMARY KEY (id), 
	CONSTRAINT uq_datasets_experiment_id_name_digest UNIQUE (experiment_id, name, digest), 
	CONSTRAINT fk_datasets_experiment_id_experiments FOREIGN KEY(experiment_id) REFERENCES experiments (experiment_id) ON DELETE CASCADE
);
CREATE TABLE logged_models (
	id INTEGER NOT NULL, 
	model_id VARCHAR(36) NOT NULL, 
	experiment_id INTEGER NOT NULL, 
	name VARCHAR(500) NOT NULL, 
	artifact_location VARCHAR(2000) NOT NULL, 
	creation_time BIGINT NOT NULL, 
	last_updated_time BIGINT NOT NULL, 
	status VARCHAR(20) NOT NULL, 
	status_message TEXT, 
	model_type VARCHAR(500), 
	source_run_id VARCHAR(32), 
	lifecycle_stage VARCHAR(20) NOT NULL, 
	CONSTRAINT pk_logged_models PRIMARY KEY (id), 
	CONSTRAINT uq_logged_models_model_id UNIQUE (model_id), 
	CONSTRAINT fk_logged_models_experiment_id_experiments FOREIGN KEY(experiment_id) REFERENCES experiments (experiment_id) ON DELETE CASCADE
);
CREATE INDEX ix_logged_models_experiment_id_lifecycle_stage_creation_time ON logged_models (experiment_id, lifecycle_stage, creation_time);
CREATE INDEX ix_logged_models_source_run_id ON logged_models (source_run_id);
CREATE TABLE registered_model_tags (
	registered_model_id INTEGER NOT NULL, 
	"key" VARCHAR(250) NOT NULL, 
	value TEXT NOT NULL, 
	CONSTRAINT pk_registered_model_tags PRIMARY KEY (registered_model_id, "key"), 
	CONSTRAINT fk_registered_model_tags_registered_model_id_registered_models FOREIGN KEY(registered_model_id) REFERENCES registered_models (id) ON DELETE CASCADE
);
CREATE TABLE model_versions (
	id INTEGER NOT NULL, 
	registered_model_id INTEGER NOT NULL, 
	version INTEGER NOT NULL, 
	creation_time BIGINT NOT NULL, 
	last_updated_time BIGINT NOT NULL, 
	description TEXT, 
	user_id VARCHAR(256), 
	current_stage VARCHAR(20) NOT NULL, 
	source VARCHAR(2000) NOT NULL, 
	storage_location VARCHAR(2000) NOT NULL, 
	run_id VARCHAR(256), 
	run_link VARCHAR(2000), 
	model_id VARCHAR(36), 
	status VARCHAR(20) NOT NULL, 
	status_message TEXT, 
	CONSTRAINT pk_model_versions PRIMARY KEY (id), 
	CONSTRAINT uq_model_versions_registered_model_id_version UNIQUE (registered_model_id, version), 
	CONSTRAINT fk_model_versions_registered_model_id_registered_models FOREIGN KEY(registered_model_id) REFERENCES registered_models (id) ON DELETE CASCADE
);
CREATE INDEX ix_model_versions_model_id ON model_versions (model_id);
CREATE INDEX ix_model_versions_run_id ON model_versions (run_id);
CREATE TABLE params (
	run_id INTEGER NOT NULL, 
	"key" VARCHAR(250) NOT NULL, 
	value TEXT NOT NULL, 
	CONSTRAINT pk_params PRIMARY KEY (run_id, "key"), 
	CONSTRAINT fk_params_run_id_runs FOREIGN KEY(run_id) REFERENCES runs (id) ON DELETE CASCADE
);
CREATE TABLE tags (
	run_id INTEGER NOT NULL, 
	"key" VARCHAR(250) NOT NULL, 
	value TEXT NOT NULL, 
	CONSTRAINT pk_tags PRIMARY KEY (run_id, "key"), 
	CONSTRAINT fk_tags_run_id_runs FOREIGN KEY(run_id) REFERENCES runs (id) ON DELETE CASCADE
);
CREATE TABLE metric_series (
	id INTEGER NOT NULL, 
	run_id INTEGER NOT NULL, 
	"key" VARCHAR(250) NOT NULL, 
	latest_value FLOAT, 
	latest_step BIGINT NOT NULL, 
	latest_timestamp BIGINT NOT NULL, 
	min_value FLOAT, 
	max_value FLOAT, 
	count BIGINT NOT NULL, 
	CONSTRAINT pk_metric_series PRIMARY KEY (id), 
	CONSTRAINT uq_metric_series_run_id_key UNIQUE (run_id, "key"), 
	CONSTRAINT fk_metric_series_run_id_runs FOREIGN KEY(run_id) REFERENCES runs (id) ON DELETE CASCADE
);
CREATE INDEX ix_metric_series_key_latest_value ON metric_series ("key", latest_value);
CREATE TABLE run_inputs (
	id INTEGER NOT NULL, 
	run_id INTEGER NOT NULL, 
	dataset_id INTEGER NOT NULL, 
	CONSTRAINT pk_run_inputs PRIMARY KEY (id), 
	CONSTRAINT uq_run_inputs_run_id_dataset_id UNIQUE (run_id, dataset_id), 
	CONSTRAINT fk_run_inputs_run_id_runs FOREIGN KEY(run_id) REFERENCES runs (id) ON DELETE CASCADE, 
	CONSTRAINT fk_run_inputs_dataset_id_datasets FOREIGN KEY(dataset_id) REFERENCES datasets (id) ON DELETE CASCADE
);
CREATE INDEX ix_run_inputs_dataset_id ON run_inputs (dataset_id);
CREATE TABLE logged_model_tags (
	logged_model_id INTEGER NOT NULL, 
	"key" VARCHAR(250) NOT NULL, 
	value TEXT NOT NULL, 
	CONSTRAINT pk_logged_model_tags PRIMARY KEY (logged_model_id, "key"), 
	CONSTRAINT fk_logged_model_tags_logged_model_id_logged_models FOREIGN KEY(logged_model_id) REFERENCES logged_models (id) ON DELETE CASCADE
);
CREATE TABLE logged_model_params (
	logged_model_id INTEGER NOT NULL, 
	"key" VARCHAR(250) NOT NULL, 
	value TEXT NOT NULL, 
	CONSTRAINT pk_logged_model_params PRIMARY KEY (logged_model_id, "key"), 
	CONSTRAINT fk_logged_model_params_logged_model_id_logged_models FOREIGN KEY(logged_model_id) REFERENCES logged_models (id) ON DELETE CASCADE
);
CREATE TABLE logged_model_metrics (
	id INTEGER NOT NULL, 
	logged_model_id INTEGER NOT NULL, 
	run_id INTEGER NOT NULL, 
	"key" VARCHAR(250) NOT NULL, 
	step BIGINT NOT NULL, 
	timestamp BIGINT NOT NULL, 
	value FLOAT, 
	dataset_name VARCHAR(500), 
	dataset_digest VARCHAR(36), 
	CONSTRAINT pk_logged_model_metrics PRIMARY KEY (id), 
	CONSTRAINT fk_logged_model_metrics_logged_model_id_logged_models FOREIGN KEY(logged_model_id) REFERENCES logged_models (id) ON DELETE CASCADE, 
	CONSTRAINT fk_logged_model_metrics_run_id_runs FOREIGN KEY(run_id) REFERENCES runs (id) ON DELETE CASCADE
);
CREATE INDEX ix_logged_model_metrics_run_id ON logged_model_metrics (run_id);
CREATE INDEX ix_logged_model_metrics_logged_model_id_key ON logged_model_metrics (logged_model_id, "key");
CREATE TABLE run_model_outputs (
	run_id INTEGER NOT NULL, 
	logged_model_id INTEGER NOT NULL, 
	step BIGINT NOT NULL, 
	CONSTRAINT pk_run_model_outputs PRIMARY KEY (run_id, logged_model_id, step), 
	CONSTRAINT fk_run_model_outputs_run_id_runs FOREIGN KEY(run_id) REFERENCES runs (id) ON DELETE CASCADE, 
	CONSTRAINT fk_run_model_outputs_logged_model_id_logged_models FOREIGN KEY(logged_model_id) REFERENCES logged_models (id) ON DELETE CASCADE
);
CREATE INDEX ix_run_model_outputs_logged_model_id ON run_model_outputs (logged_model_id);
CREATE TABLE run_model_inputs (
	run_id INTEGER NOT NULL, 
	logged_model_id INTEGER NOT NULL, 
	CONSTRAINT pk_run_model_inputs PRIMARY KEY (run_id, logged_model_id), 
	CONSTRAINT fk_run_model_inputs_run_id_runs FOREIGN KEY(run_id) REFERENCES runs (id) ON DELETE CASCADE, 
	CONSTRAINT fk_run_model_inputs_logged_model_id_logged_models FOREIGN KEY(logged_model_id) REFERENCES logged_models (id) ON DELETE CASCADE
);
CREATE INDEX ix_run_model_inputs_logged_model_id ON run_model_inputs (logged_model_id);
CREATE TABLE model_version_tags (
	model_version_id INTEGER NOT NULL, 
	"key" VARCHAR(250) NOT NULL, 
	value TEXT NOT NULL, 
	CONSTRAINT pk_model_version_tags PRIMARY KEY (model_version_id, "key"), 
	CONSTRAINT fk_model_version_tags_model_version_id_model_versions FOREIGN KEY(model_version_id) REFERENCES model_versions (id) ON DELETE CASCADE
);
CREATE TABLE registered_model_aliases (
	registered_model_id INTEGER NOT NULL, 
	alias VARCHAR(255) NOT NULL, 
	model_version_id INTEGER NOT NULL, 
	CONSTRAINT pk_registered_model_aliases PRIMARY KEY (registered_model_id, alias), 
	CONSTRAINT fk_registered_model_aliases_registered_model_id FOREIGN KEY(registered_model_id) REFERENCES registered_models (id) ON DELETE CASCADE, 
	CONSTRAINT fk_registered_model_aliases_model_version_id_model_versions FOREIGN KEY(model_version_id) REFERENCES model_versions (id) ON DELETE CASCADE
);
CREATE INDEX ix_registered_model_aliases_model_version_id ON registered_model_aliases (model_version_id);
CREATE TABLE metrics (
	id INTEGER NOT NULL, 
	series_id INTEGER NOT NULL, 
	step BIGINT NOT NULL, 
	timestamp BIGINT NOT NULL, 
	value FLOAT, 
	CONSTRAINT pk_metrics PRIMARY KEY (id), 
	CONSTRAINT fk_metrics_series_id_metric_series FOREIGN KEY(series_id) REFERENCES metric_series (id) ON DELETE CASCADE
);
CREATE INDEX ix_metrics_series_id_step_timestamp ON metrics (series_id, step, timestamp);
CREATE TABLE input_tags (
	input_id INTEGER NOT NULL, 
	"key" VARCHAR(255) NOT NULL, 
	value VARCHAR(500) NOT NULL, 
	CONSTRAINT pk_input_tags PRIMARY KEY (input_id, "key"), 
	CONSTRAINT fk_input_tags_input_id_run_inputs FOREIGN KEY(input_id) REFERENCES run_inputs (id) ON DELETE CASCADE
);
CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
