// mxcubeweb's task form, reduced to what decides how a task's schema renders and what it posts:
// @rjsf/core's Form with @rjsf/validator-ajv8 (the versions mxcubeweb's ui/package.json pins),
// liveValidate, the task's ui_schema, GenericTaskForm's field and object templates (re-written
// here from their behaviour: label, '*' when required, the description in brackets; every
// property in a half-width column), its defaults-from-initial-values step, and its addToQueue.
import React from 'react';
import ReactDOM from 'react-dom';
import Form from '@rjsf/core';
import validator from '@rjsf/validator-ajv8';

const task = window.__TASK__; // what GET /queue/available_tasks answers for the task, plus the sample

function FieldTemplate(props) {
  const { id, classNames, label, required, rawDescription, description, errors, children, help } = props;
  return (
    <div className={classNames}>
      {id !== 'root' && (
        <label htmlFor={id}>
          {label}
          {required ? '*' : null}
          {rawDescription ? ` (${rawDescription})` : null}
        </label>
      )}
      {description}
      {children}
      {errors}
      {help}
    </div>
  );
}

function ObjectFieldTemplate({ properties, description }) {
  return (
    <div>
      <div className="row">
        {properties.map((p) => (
          <div key={p.content.key} className="col-6 json-schema-form-group-div">{p.content}</div>
        ))}
      </div>
      {description}
    </div>
  );
}

// GenericTaskForm.setConstraintsFromDefualts: each initial value becomes its property's default
// (its limits step reads taskData.Arraylimits, which is never set, so it adds nothing).
function withDefaults(schema, initialValues) {
  const s = { ...schema, properties: { ...schema.properties } };
  for (const key of Object.keys(initialValues)) {
    if (s.properties[key]) s.properties[key] = { ...s.properties[key], default: initialValues[key] };
  }
  return s;
}

// the redux-form values GenericTaskForm starts from (its connect(): initialValues)
const initialValues = {
  ...task.parameters,
  type: task.type,
  beam_size: task.parameters.beam_size,
  resolution: task.parameters.resolution,
  energy: task.parameters.energy,
  transmission: task.parameters.transmission,
  osc_start: task.parameters.osc_start,
};

function addToQueue(params, jsformData) {
  // GenericTaskForm.addToQueue, then the task object actions/queue.addTask posts to /queue/
  const parameters = {
    ...params,
    ...jsformData,
    label: params.name,
    shape: task.pointID,
    selection: task.parameters.selection,
    experiment_name: params.experimentName,
  };
  return { type: parameters.type, label: parameters.label, state: 0, sampleID: task.sampleID,
           parameters, checked: true };
}

function TaskForm() {
  const formRef = React.useRef(null);
  const jsformData = React.useRef({});
  const schema = React.useMemo(() => withDefaults(task.schema, initialValues), []);
  const uiSchema = JSON.parse(task.ui_schema);
  React.useEffect(() => {
    // what ajv says of the form as it opens: the defaults from mxcubeweb's initial values
    const { formData } = formRef.current.state;
    window.__initial__ = { formData, errors: validator.validateFormData(formData, schema).errors.map((e) => e.stack) };
  }, []);
  return (
    <div className="container" style={{ maxWidth: '900px' }}>
      <h5>{task.name}</h5>
      <div className="json-schema-form-container">
        <Form
          ref={formRef}
          liveValidate
          validator={validator}
          schema={schema}
          uiSchema={uiSchema}
          templates={{ ObjectFieldTemplate, FieldTemplate }}
          onChange={({ formData }) => { jsformData.current = formData; }}
          onError={(errors) => { window.__refused__ = errors.map((e) => e.stack); }}
        />
      </div>
      <button id="add-to-queue" type="button" className="btn btn-sm btn-outline-secondary"
              onClick={() => {
                // GenericTaskForm's button posts whatever the schema form holds (only its redux
                // fields can disable it); here the task is built only when rjsf's validation
                // passes, and rjsf's onError lists the refusals otherwise
                window.__refused__ = null;
                if (formRef.current.validateForm()) {
                  window.__submitted__ = addToQueue(initialValues, jsformData.current);
                }
              }}>
        Add to Queue
      </button>
    </div>
  );
}

ReactDOM.render(<TaskForm />, document.getElementById('root'));
